"""Effects of OCPP 2.0.1 commands (command log rows with ocpp_version 2.0.1), applied by the
three services' effect routes on Postgres, as the 1.6 ones (test_command_effects.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.commands.service import create_log, log_values
from shared.command_outbox import complete
from shared.commands import CommandOutcome, Result
from shared.envelope import Envelope
from shared.ocpp import OCPP201
from tests.factories import Sql

from .conftest import add_chargepoint
from .test_command_effects import Runner, availability, configuration, new_reservation_id

pytestmark = pytest.mark.integration

ACCEPTED = Result({"status": "Accepted"})


class Commands201:
    """Commits 2.0.1 commands and their outcomes as the API does."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(
        self,
        cp: str,
        action: str,
        request: dict[str, Any],
        outcome: CommandOutcome,
        *,
        version: str | None = OCPP201,
    ) -> Envelope:
        async with self.sessionmaker() as session:
            command_id = await create_log(
                session=session,
                chargepoint_id=cp,
                action=action,
                request=request,
                requested_by="test",
                timeout=30,
                ocpp_version=version,
            )
            event = await complete(session, command_id, log_values(outcome))
            await session.commit()
        assert event is not None
        assert event.payload["ocpp_version"] == version
        return event


@pytest.fixture
def command(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Commands201:
    return Commands201(db_sessionmaker)


@pytest.fixture
def run(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Runner:
    return Runner(db_sessionmaker)


async def test_change_availability_station_evse_connector(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp, (1, 2))
    await run(
        await command(
            cp,
            "ChangeAvailability",
            {"operationalStatus": "Inoperative", "evse": {"id": 1}},
            ACCEPTED,
        )
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Operative"}
    # No evse: the whole station.
    await run(
        await command(cp, "ChangeAvailability", {"operationalStatus": "Inoperative"}, ACCEPTED)
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Inoperative"}
    # A connector of an EVSE: applied to the EVSE's row; Scheduled -> Scheduled.
    await run(
        await command(
            cp,
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 2, "connectorId": 1}},
            Result({"status": "Scheduled"}),
        )
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Scheduled"}
    await run(
        await command(
            cp,
            "ChangeAvailability",
            {"operationalStatus": "Operative"},
            Result({"status": "Rejected"}),
        )
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Scheduled"}


async def test_a_16_shaped_row_is_not_read_as_201(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    """The version column decides the model: a 1.6 row (NULL version) keeps its 1.6 effect."""
    await add_chargepoint(sql, cp, (1,))
    await run(
        await command(
            cp,
            "ChangeAvailability",
            {"connectorId": 1, "type": "Inoperative"},
            ACCEPTED,
            version=None,
        )
    )
    assert await availability(sql, cp) == {1: "Inoperative"}
    # The same 1.6 request stored as 2.0.1 cannot be read: passed, nothing applied, and the
    # next command's effect still applies.
    await run(
        await command(cp, "ChangeAvailability", {"connectorId": 1, "type": "Operative"}, ACCEPTED),
        await command(
            cp,
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 1}},
            ACCEPTED,
        ),
    )
    assert await availability(sql, cp) == {1: "Operative"}


def _var(component: str, variable: str, **extra: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}, **extra}


async def test_set_and_get_variables(run: Runner, command: Commands201, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp)
    request = {
        "setVariableData": [
            _var("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="120"),
            _var("TxCtrlr", "EVConnectionTimeOut", attributeValue="60"),
            _var("AuthCtrlr", "Enabled", attributeValue="false"),
            _var(
                "SampledDataCtrlr", "TxUpdatedInterval", attributeValue="5", attributeType="Target"
            ),
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
                "attributeValue": "11000",
            },
        ]
    }
    response = {
        "setVariableResult": [
            _var("OCPPCommCtrlr", "HeartbeatInterval", attributeStatus="Accepted"),
            _var("TxCtrlr", "EVConnectionTimeOut", attributeStatus="RebootRequired"),
            _var("AuthCtrlr", "Enabled", attributeStatus="Rejected"),
            _var(
                "SampledDataCtrlr",
                "TxUpdatedInterval",
                attributeStatus="Accepted",
                attributeType="Target",
            ),
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
                "attributeStatus": "Accepted",
            },
        ]
    }
    await run(await command(cp, "SetVariables", request, Result(response)))
    assert await configuration(sql, cp) == {
        "OCPPCommCtrlr.HeartbeatInterval": ("120", False),
        "TxCtrlr.EVConnectionTimeOut": ("60", False),
        "EVSE@1.Power": ("11000", False),
    }
    get = {
        "getVariableResult": [
            _var(
                "OCPPCommCtrlr",
                "HeartbeatInterval",
                attributeStatus="Accepted",
                attributeValue="300",
            ),
            _var("TxCtrlr", "EVConnectionTimeOut", attributeStatus="UnknownVariable"),
            _var("ClockCtrlr", "TimeSource", attributeStatus="Accepted", attributeValue="NTP"),
            _var("AuthCtrlr", "Enabled", attributeStatus="Rejected"),
        ]
    }
    await run(
        await command(
            cp,
            "GetVariables",
            {"getVariableData": [_var("OCPPCommCtrlr", "HeartbeatInterval")]},
            Result(get),
        )
    )
    assert await configuration(sql, cp) == {
        "OCPPCommCtrlr.HeartbeatInterval": ("300", False),
        "ClockCtrlr.TimeSource": ("NTP", None),
        "EVSE@1.Power": ("11000", False),
    }


async def test_local_list_version(run: Runner, command: Commands201, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp)

    async def version() -> int | None:
        rows = await sql(
            "SELECT local_list_version FROM chargepoint WHERE chargepoint_id = :cp", cp=cp
        )
        value: int | None = rows[0]["local_list_version"]
        return value

    await run(
        await command(cp, "SendLocalList", {"versionNumber": 3, "updateType": "Full"}, ACCEPTED),
        await command(
            cp,
            "SendLocalList",
            {"versionNumber": 4, "updateType": "Differential"},
            Result({"status": "VersionMismatch"}),
        ),
    )
    assert await version() == 3
    await run(await command(cp, "GetLocalListVersion", {}, Result({"versionNumber": 8})))
    assert await version() == 8


async def test_reserve_now_and_cancel(run: Runner, command: Commands201, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp, (1, 2))
    rid, anywhere = new_reservation_id(), new_reservation_id()
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    request = {
        "id": rid,
        "expiryDateTime": expiry.isoformat(),
        "idToken": {"idToken": "TOKEN-1", "type": "ISO14443"},
        "groupIdToken": {"idToken": "GROUP", "type": "Central"},
        "evseId": 2,
        "connectorType": "cType2",
    }
    await run(
        await command(cp, "ReserveNow", request, Result({"status": "Occupied"})),
        await command(cp, "ReserveNow", request, ACCEPTED),
        await command(
            cp,
            "ReserveNow",
            {
                "id": anywhere,
                "expiryDateTime": expiry.isoformat(),
                "idToken": {"idToken": "TOKEN-2", "type": "Central"},
            },
            ACCEPTED,
        ),
    )
    rows = await sql(
        "SELECT reservation_id, connectorid, connector_uuid IS NOT NULL AS linked, id_tag,"
        " parent_id_tag, status, expiry_date FROM reservation WHERE chargepoint_id = :cp"
        " ORDER BY connectorid",
        cp=cp,
    )
    assert [
        (r["reservation_id"], r["connectorid"], r["linked"], r["id_tag"], r["parent_id_tag"])
        for r in rows
    ] == [(anywhere, 0, False, "TOKEN-2", None), (rid, 2, True, "TOKEN-1", "GROUP")]
    assert {r["status"] for r in rows} == {"Active"}
    assert rows[1]["expiry_date"] == expiry
    await run(await command(cp, "CancelReservation", {"reservationId": rid}, ACCEPTED))
    rows = await sql(
        "SELECT status FROM reservation WHERE chargepoint_id = :cp AND reservation_id = :r",
        cp=cp,
        r=rid,
    )
    assert rows[0]["status"] == "Cancelled"


async def test_request_start_links_a_running_transaction(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp, (1,))
    remote = f"tx-{uuid.uuid4().hex[:12]}"
    await sql(
        "INSERT INTO transaction (chargepoint_id, connectorid, start_transaction_timestamp,"
        " wh_meter_start, wh_meter_last, id_tag, remote_transaction_id, start_message_id)"
        " VALUES (:cp, 1, now(), 0, 0, '', :remote, :key)",
        cp=cp,
        remote=remote,
        key=uuid.uuid4().hex,
    )
    request = {"idToken": {"idToken": "TOKEN", "type": "Central"}, "remoteStartId": 77, "evseId": 1}
    # Accepted without a transactionId: the TransactionEvent will say (nothing here).
    await run(await command(cp, "RequestStartTransaction", request, ACCEPTED))
    assert (await sql("SELECT remote_start_id FROM transaction WHERE chargepoint_id = :cp", cp=cp))[
        0
    ]["remote_start_id"] is None
    await run(
        await command(
            cp,
            "RequestStartTransaction",
            request,
            Result({"status": "Accepted", "transactionId": remote}),
        )
    )
    rows = await sql("SELECT remote_start_id FROM transaction WHERE chargepoint_id = :cp", cp=cp)
    assert rows[0]["remote_start_id"] == 77


async def test_set_and_clear_charging_profile(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp, (1,))
    profile_id = 500_000 + uuid.uuid4().int % 1_000_000
    profile = {
        "id": profile_id,
        "stackLevel": 1,
        "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "startSchedule": "2030-01-01T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 11000.5, "numberPhases": 3},
                    {"startPeriod": 3600, "limit": 7000},
                ],
            }
        ],
    }
    await run(
        await command(cp, "SetChargingProfile", {"evseId": 0, "chargingProfile": profile}, ACCEPTED)
    )
    [row] = await sql(
        "SELECT chargepoint_id, connector_id, stack_level, chargingprofile_purpose,"
        " charging_rate_unit, chargingschedule_period, start_schedule"
        " FROM charging_profile WHERE chargingprofile_id = :id",
        id=profile_id,
    )
    assert (row["chargepoint_id"], row["connector_id"], row["stack_level"]) == (cp, 0, 1)
    assert row["chargingprofile_purpose"] == "ChargingStationMaxProfile"
    assert row["charging_rate_unit"] == "W"
    assert row["chargingschedule_period"] == [
        {"startPeriod": 0, "limit": 11000.5, "numberPhases": 3},
        {"startPeriod": 3600, "limit": 7000},
    ]
    assert row["start_schedule"] == datetime(2030, 1, 1, tzinfo=UTC)

    async def installation() -> list[tuple[int, str]]:
        rows = await sql(
            "SELECT connectorid, status FROM charging_profile_installation"
            " WHERE chargepoint_id = :cp AND chargingprofile_id = :id",
            cp=cp,
            id=profile_id,
        )
        return [(r["connectorid"], r["status"]) for r in rows]

    assert await installation() == [(0, "Installed")]
    await run(
        await command(
            cp,
            "ClearChargingProfile",
            {"chargingProfileCriteria": {"chargingProfilePurpose": "TxProfile"}},
            ACCEPTED,
        )
    )
    assert await installation() == [(0, "Installed")]
    await run(
        await command(
            cp,
            "ClearChargingProfile",
            {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"}},
            ACCEPTED,
        )
    )
    assert await installation() == [(0, "Cleared")]
