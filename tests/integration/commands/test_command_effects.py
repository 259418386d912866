"""Effects of `command.completed` events through shared.dispatch.Dispatcher on Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry import command_effects as registry_effects
from services.transactions import command_effects as transactions_effects
from shared.bus.topology import EVENTS
from shared.commands import (
    COMMAND_COMPLETED,
    CallError,
    CommandOutcome,
    NotConnected,
    Result,
    completed_payload,
)
from shared.dispatch import Dispatcher, Router
from shared.envelope import Envelope, Kind
from shared.settings import Settings
from tests.factories import FakeDelivery, Sql

from .conftest import add_chargepoint

pytestmark = pytest.mark.integration


class NoEvents:
    async def publish_event(self, envelope: Envelope) -> None:
        raise AssertionError("command effects publish no events")


def completed(cp: str, action: str, request: dict[str, Any], outcome: CommandOutcome) -> Envelope:
    correlation_id = uuid.uuid4().hex
    return Envelope(
        kind=Kind.EVENT,
        action=COMMAND_COMPLETED,
        chargepoint_id=cp,
        correlation_id=correlation_id,
        payload=completed_payload(
            correlation_id=correlation_id,
            chargepoint_id=cp,
            action=action,
            request=request,
            outcome=outcome,
        ),
    )


class Runner:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.dispatchers = [
            Dispatcher(
                router=Router(module.ROUTES),
                sessionmaker=sessionmaker,
                settings=Settings(),
                publisher=NoEvents(),
            )
            for module in (registry_effects, transactions_effects)
        ]

    async def __call__(self, *envelopes: Envelope) -> None:
        """Both services' handlers, each batch in one transaction (as their consumers do)."""
        deliveries: Sequence[FakeDelivery] = [FakeDelivery(e, COMMAND_COMPLETED) for e in envelopes]
        for dispatcher in self.dispatchers:
            assert await dispatcher(deliveries) == [None] * len(deliveries)


@pytest.fixture
def run(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Runner:
    return Runner(db_sessionmaker)


def test_routes_bind_command_completed() -> None:
    for module in (registry_effects, transactions_effects):
        assert [(r.exchange, r.routing_key) for r in module.ROUTES] == [(EVENTS, COMMAND_COMPLETED)]


async def availability(sql: Sql, cp: str) -> dict[int, str]:
    rows = await sql(
        "SELECT connectorid, availability_status FROM connector WHERE chargepoint_id = :cp", cp=cp
    )
    return {r["connectorid"]: r["availability_status"] for r in rows}


async def test_change_availability(run: Runner, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp, (1, 2))
    accepted = Result({"status": "Accepted"})
    await run(
        completed(cp, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, accepted)
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Operative"}
    # connectorId 0: every connector of the charge point.
    await run(
        completed(cp, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, accepted)
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Inoperative"}
    await run(
        completed(
            cp,
            "ChangeAvailability",
            {"connectorId": 2, "type": "Operative"},
            Result({"status": "Scheduled"}),
        )
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Scheduled"}
    # Rejected, errors and offline change nothing.
    await run(
        completed(
            cp,
            "ChangeAvailability",
            {"connectorId": 0, "type": "Operative"},
            Result({"status": "Rejected"}),
        ),
        completed(
            cp, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, NotConnected()
        ),
        completed(
            cp, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, CallError("X")
        ),
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Scheduled"}
    # A connector not reported yet is created.
    await run(
        completed(cp, "ChangeAvailability", {"connectorId": 3, "type": "Inoperative"}, accepted)
    )
    assert (await availability(sql, cp))[3] == "Inoperative"


async def configuration(sql: Sql, cp: str) -> dict[str, tuple[str | None, bool | None]]:
    rows = await sql(
        "SELECT key, value, readonly FROM chargepoint_configuration WHERE chargepoint_id = :cp",
        cp=cp,
    )
    return {r["key"]: (r["value"], r["readonly"]) for r in rows}


async def test_configuration(run: Runner, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp)
    get = completed(
        cp,
        "GetConfiguration",
        {},
        Result(
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                    {"key": "AuthorizationKey", "readonly": False},
                ],
            }
        ),
    )
    await run(get, get)  # redelivered: same rows
    assert await configuration(sql, cp) == {
        "HeartbeatInterval": ("300", False),
        "NumberOfConnectors": ("2", True),
        "AuthorizationKey": (None, False),
    }
    for status, expected in (("Accepted", "60"), ("RebootRequired", "90"), ("Rejected", "90")):
        await run(
            completed(
                cp,
                "ChangeConfiguration",
                {"key": "HeartbeatInterval", "value": expected if status != "Rejected" else "1"},
                Result({"status": status}),
            )
        )
        assert (await configuration(sql, cp))["HeartbeatInterval"] == (expected, False)
    await run(
        completed(
            cp,
            "ChangeConfiguration",
            {"key": "MeterValueSampleInterval", "value": "15"},
            Result({"status": "Accepted"}),
        ),
        completed(
            cp,
            "GetConfiguration",
            {"key": ["AuthorizationKey"]},
            Result({"unknownKey": ["AuthorizationKey"]}),
        ),
    )
    assert await configuration(sql, cp) == {
        "HeartbeatInterval": ("90", False),
        "NumberOfConnectors": ("2", True),
        "MeterValueSampleInterval": ("15", False),
    }


async def test_local_list_version(run: Runner, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp)

    async def version() -> int | None:
        rows = await sql(
            "SELECT local_list_version FROM chargepoint WHERE chargepoint_id = :cp", cp=cp
        )
        value: int | None = rows[0]["local_list_version"]
        return value

    await run(
        completed(
            cp,
            "SendLocalList",
            {"listVersion": 4, "updateType": "Full"},
            Result({"status": "Accepted"}),
        )
    )
    assert await version() == 4
    await run(
        completed(
            cp,
            "SendLocalList",
            {"listVersion": 5, "updateType": "Full"},
            Result({"status": "VersionMismatch"}),
        )
    )
    assert await version() == 4
    await run(completed(cp, "GetLocalListVersion", {}, Result({"listVersion": 7})))
    assert await version() == 7


async def reservation(sql: Sql, reservation_id: int) -> dict[str, Any] | None:
    rows = await sql(
        "SELECT r.*, c.connectorid AS connector_row_number FROM reservation r"
        " LEFT JOIN connector c ON c.uuid = r.connector_uuid WHERE reservation_id = :rid",
        rid=reservation_id,
    )
    return rows[0] if rows else None


def new_reservation_id() -> int:
    return 1_000_000 + uuid.uuid4().int % 1_000_000_000


async def test_reserve_and_cancel(run: Runner, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp)
    rid = new_reservation_id()
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    request = {
        "connectorId": 2,
        "expiryDate": expiry.isoformat().replace("+00:00", "Z"),
        "idTag": "TAG-1",
        "parentIdTag": "PARENT",
        "reservationId": rid,
    }
    await run(completed(cp, "ReserveNow", request, Result({"status": "Occupied"})))
    assert await reservation(sql, rid) is None
    event = completed(cp, "ReserveNow", request, Result({"status": "Accepted"}))
    await run(event)
    row = await reservation(sql, rid)
    assert row is not None
    assert (row["connectorid"], row["id_tag"], row["parent_id_tag"], row["status"]) == (
        2,
        "TAG-1",
        "PARENT",
        "Active",
    )
    assert (row["chargepoint_id"], row["connector_row_number"]) == (cp, 2)
    assert row["expiry_date"] == expiry
    # Same id again (OCPP 1.6: replaces the reservation) while it is Active.
    await run(
        completed(cp, "ReserveNow", {**request, "connectorId": 1}, Result({"status": "Accepted"}))
    )
    replaced = await reservation(sql, rid) or {}
    assert (replaced["connectorid"], replaced["connector_row_number"]) == (1, 1)
    await run(
        completed(cp, "CancelReservation", {"reservationId": rid}, Result({"status": "Rejected"}))
    )
    assert (await reservation(sql, rid) or {})["status"] == "Active"
    await run(
        completed(cp, "CancelReservation", {"reservationId": rid}, Result({"status": "Accepted"}))
    )
    assert (await reservation(sql, rid) or {})["status"] == "Cancelled"
    # A redelivered ReserveNow does not revive a cancelled reservation.
    await run(event)
    assert (await reservation(sql, rid) or {})["status"] == "Cancelled"


async def test_reserve_any_connector_or_an_unreported_one_is_recorded(
    run: Runner, sql: Sql, cp: str
) -> None:
    """connectorId 0 (any connector) and a connector with no row yet: connector_uuid NULL."""
    await add_chargepoint(sql, cp, (1,))
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for connector_id in (0, 9):
        rid = new_reservation_id()
        request = {
            "connectorId": connector_id,
            "expiryDate": expiry,
            "idTag": "T",
            "reservationId": rid,
        }
        await run(completed(cp, "ReserveNow", request, Result({"status": "Accepted"})))
        row = await reservation(sql, rid)
        assert row is not None
        assert (row["chargepoint_id"], row["connectorid"], row["connector_uuid"]) == (
            cp,
            connector_id,
            None,
        )
        assert row["status"] == "Active"
        await run(
            completed(
                cp, "CancelReservation", {"reservationId": rid}, Result({"status": "Accepted"})
            )
        )
        assert (await reservation(sql, rid) or {})["status"] == "Cancelled"


async def test_reserve_on_an_unknown_charge_point_or_connector_is_not_recorded(
    run: Runner, sql: Sql, cp: str
) -> None:
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    request = {"connectorId": 1, "expiryDate": expiry, "idTag": "T"}
    unknown_cp, negative = new_reservation_id(), new_reservation_id()
    await run(
        completed(
            cp,
            "ReserveNow",
            {**request, "reservationId": unknown_cp},
            Result({"status": "Accepted"}),
        )
    )
    await add_chargepoint(sql, cp)
    await run(
        completed(
            cp,
            "ReserveNow",
            {**request, "connectorId": -1, "reservationId": negative},
            Result({"status": "Accepted"}),
        )
    )
    assert await reservation(sql, unknown_cp) is None
    assert await reservation(sql, negative) is None


async def test_cancel_only_on_the_same_chargepoint(run: Runner, sql: Sql, cp: str) -> None:
    other = f"{cp}-other"
    await add_chargepoint(sql, cp)
    await add_chargepoint(sql, other)
    rid = new_reservation_id()
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    request = {"connectorId": 1, "expiryDate": expiry, "idTag": "T", "reservationId": rid}
    await run(completed(cp, "ReserveNow", request, Result({"status": "Accepted"})))
    await run(
        completed(
            other, "CancelReservation", {"reservationId": rid}, Result({"status": "Accepted"})
        )
    )
    assert (await reservation(sql, rid) or {})["status"] == "Active"
