"""A site mixing 1.6 and 2.0.1 stations on the real database: profiles in each station's
version, external limits (charging_limit) and EV needs (ev_charging_need) as caps."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from shared.dispatch import Dispatcher
from shared.envelope import event
from tests.factories import FakeDelivery, Sql

from .conftest import FakeChargePoints

pytestmark = pytest.mark.integration


async def start(sql: Sql, cp: str, remote: str | None = None) -> int:
    rows = await sql(
        "insert into transaction (chargepoint_id, connectorid, start_transaction_timestamp,"
        " wh_meter_start, wh_meter_last, id_tag, start_message_id, remote_transaction_id)"
        " values (:cp, 1, now(), 0, 0, 'TAG', :m, :r) returning transaction_id",
        cp=cp,
        m=uuid.uuid4().hex,
        r=remote,
    )
    await sql(
        "update connector set connector_status = 'Charging' where chargepoint_id = :cp", cp=cp
    )
    tid: int = rows[0]["transaction_id"]
    return tid


async def test_mixed_versions_and_caps(
    site: list[str],
    sql: Sql,
    fleet: FakeChargePoints,
    dispatcher_factory: Callable[[], Dispatcher],
) -> None:
    dispatcher = dispatcher_factory()
    cp16, cp201 = site[0], site[1]
    await sql(
        "update chargepoint set ocpp_version = 'ocpp2.0.1' where chargepoint_id = :cp", cp=cp201
    )

    async def dispatch(name: str, cp: str) -> None:
        await dispatcher([FakeDelivery(event(name, {}, cp), name)])

    tx16 = await start(sql, cp16)
    await dispatch("transaction.started", cp16)
    tx201 = await start(sql, cp201, remote="st-tx-9")
    await dispatch("transaction.started", cp201)
    assert fleet.balanced[(cp16, 1)] == (tx16, Decimal(32))
    assert fleet.balanced[(cp201, 1)] == ("st-tx-9", Decimal(32))
    [sent201] = fleet.sets(cp201)
    assert sent201["evseId"] == 1 and "csChargingProfiles" not in sent201
    assert (
        sent201["chargingProfile"]["chargingSchedule"][0]["id"] == sent201["chargingProfile"]["id"]
    )
    assert "connectorId" in fleet.sets(cp16)[0]

    # An EMS limit of 10 A on the 2.0.1 station's EVSE caps its session.
    await sql(
        "insert into charging_limit (chargepoint_id, evse_id, source, grid_critical, schedule)"
        " values (:cp, 1, 'EMS', false, :s)",
        cp=cp201,
        s='[{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod":'
        ' [{"startPeriod": 0, "limit": 10}]}]',
    )
    await dispatch("charging.constraints_changed", cp201)
    assert fleet.balanced[(cp201, 1)] == ("st-tx-9", Decimal(10))
    assert fleet.balanced[(cp16, 1)] == (tx16, Decimal(32))

    # The EV asks for at most 8 A: the lower cap wins.
    await sql(
        "insert into ev_charging_need (chargepoint_id, evse_id, transaction_id,"
        " requested_energy_transfer, ev_max_current, needs) values (:cp, 1, :t,"
        " 'AC_three_phase', 8, '{}')",
        cp=cp201,
        t=tx201,
    )
    await dispatch("charging.constraints_changed", cp201)
    assert fleet.balanced[(cp201, 1)] == ("st-tx-9", Decimal(8))

    # K15: the EV's needs mark the session's limit to be sent again, even unchanged.
    before = len(fleet.sets(cp201))
    await sql(
        "update balancing_allocation set status = 'Pending' where transaction_id = :t", t=tx201
    )
    await dispatch("charging.constraints_changed", cp201)
    assert len(fleet.sets(cp201)) == before + 1
    assert fleet.balanced[(cp201, 1)] == ("st-tx-9", Decimal(8))
    held = await sql(
        "select installed_limit, status from balancing_allocation where transaction_id = :t",
        t=tx201,
    )
    assert held == [{"installed_limit": Decimal(8), "status": "Installed"}]

    # Both gone: the session gets its maximum again.
    await sql("delete from charging_limit")
    await sql("delete from ev_charging_need")
    await dispatch("charging.constraints_changed", cp201)
    assert fleet.balanced[(cp201, 1)] == ("st-tx-9", Decimal(32))
