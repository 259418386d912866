"""Effects of completed commands, applied from the command log (the outbox) by each service's
effect routes through shared.dispatch.Dispatcher on Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.commands.service import create_log, log_values
from services.charging import command_effects as charging_effects
from services.registry import command_effects as registry_effects
from services.transactions import command_effects as transactions_effects
from shared.bus.topology import EVENTS
from shared.command_outbox import EFFECTS_QUEUE, complete
from shared.commands import (
    COMMAND_COMPLETED,
    COMMAND_EFFECTS_DUE,
    CallError,
    CommandOutcome,
    NotConnected,
    Result,
)
from shared.dispatch import Dispatcher, Router
from shared.envelope import Envelope
from shared.settings import Settings
from tests.factories import FakeDelivery, Sql

from .conftest import add_chargepoint

pytestmark = pytest.mark.integration

EFFECT_MODULES = (registry_effects, transactions_effects, charging_effects)


class NoEvents:
    async def publish_event(self, envelope: Envelope) -> None:
        raise AssertionError("command effects publish no events")


class Commands:
    """Commits commands and their outcomes as the API does (pending row, then the outcome
    with its seq); returns the `command.completed` event of each."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(
        self, cp: str, action: str, request: dict[str, Any], outcome: CommandOutcome
    ) -> Envelope:
        async with self.sessionmaker() as session:
            command_id = await create_log(
                session=session,
                chargepoint_id=cp,
                action=action,
                request=request,
                requested_by="test",
                timeout=30,
            )
            event = await complete(session, command_id, log_values(outcome))
            await session.commit()
        assert event is not None
        return event


class Runner:
    """The three services' effect routes, one message per transaction (as their consumers)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.dispatchers = [
            Dispatcher(
                router=Router(module.ROUTES),
                sessionmaker=sessionmaker,
                settings=Settings(),
                publisher=NoEvents(),
            )
            for module in EFFECT_MODULES
        ]

    async def __call__(self, *events: Envelope) -> None:
        for event in events:
            deliveries: Sequence[FakeDelivery] = [FakeDelivery(event, event.action)]
            for dispatcher in self.dispatchers:
                assert await dispatcher(deliveries) == [None]


@pytest.fixture
def command(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Commands:
    return Commands(db_sessionmaker)


@pytest.fixture
def run(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Runner:
    return Runner(db_sessionmaker)


def test_routes_bind_the_nudges_on_their_own_queue() -> None:
    for module in EFFECT_MODULES:
        assert [(r.exchange, r.routing_key, r.own_queue) for r in module.ROUTES] == [
            (EVENTS, COMMAND_COMPLETED, EFFECTS_QUEUE),
            (EVENTS, COMMAND_EFFECTS_DUE, EFFECTS_QUEUE),
        ]


async def availability(sql: Sql, cp: str) -> dict[int, str]:
    rows = await sql(
        "SELECT connectorid, availability_status FROM connector WHERE chargepoint_id = :cp", cp=cp
    )
    return {r["connectorid"]: r["availability_status"] for r in rows}


async def test_change_availability(run: Runner, command: Commands, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp, (1, 2))
    accepted = Result({"status": "Accepted"})
    await run(
        await command(cp, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, accepted)
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Operative"}
    # connectorId 0: every connector of the charge point.
    await run(
        await command(cp, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, accepted)
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Inoperative"}
    await run(
        await command(
            cp,
            "ChangeAvailability",
            {"connectorId": 2, "type": "Operative"},
            Result({"status": "Scheduled"}),
        )
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Scheduled"}
    # Rejected, errors and offline change nothing.
    await run(
        await command(
            cp,
            "ChangeAvailability",
            {"connectorId": 0, "type": "Operative"},
            Result({"status": "Rejected"}),
        ),
        await command(
            cp, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, NotConnected()
        ),
        await command(
            cp, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}, CallError("X")
        ),
    )
    assert await availability(sql, cp) == {1: "Inoperative", 2: "Scheduled"}
    # A connector not reported yet is created.
    await run(
        await command(cp, "ChangeAvailability", {"connectorId": 3, "type": "Inoperative"}, accepted)
    )
    assert (await availability(sql, cp))[3] == "Inoperative"


async def configuration(sql: Sql, cp: str) -> dict[str, tuple[str | None, bool | None]]:
    rows = await sql(
        "SELECT key, value, readonly FROM chargepoint_configuration WHERE chargepoint_id = :cp",
        cp=cp,
    )
    return {r["key"]: (r["value"], r["readonly"]) for r in rows}


async def test_configuration(run: Runner, command: Commands, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp)
    get = await command(
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
            await command(
                cp,
                "ChangeConfiguration",
                {"key": "HeartbeatInterval", "value": expected if status != "Rejected" else "1"},
                Result({"status": status}),
            )
        )
        assert (await configuration(sql, cp))["HeartbeatInterval"] == (expected, False)
    await run(
        await command(
            cp,
            "ChangeConfiguration",
            {"key": "MeterValueSampleInterval", "value": "15"},
            Result({"status": "Accepted"}),
        ),
        await command(
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


async def test_local_list_version(run: Runner, command: Commands, sql: Sql, cp: str) -> None:
    await add_chargepoint(sql, cp)

    async def version() -> int | None:
        rows = await sql(
            "SELECT local_list_version FROM chargepoint WHERE chargepoint_id = :cp", cp=cp
        )
        value: int | None = rows[0]["local_list_version"]
        return value

    await run(
        await command(
            cp,
            "SendLocalList",
            {"listVersion": 4, "updateType": "Full"},
            Result({"status": "Accepted"}),
        )
    )
    assert await version() == 4
    await run(
        await command(
            cp,
            "SendLocalList",
            {"listVersion": 5, "updateType": "Full"},
            Result({"status": "VersionMismatch"}),
        )
    )
    assert await version() == 4
    await run(await command(cp, "GetLocalListVersion", {}, Result({"listVersion": 7})))
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


async def test_reserve_and_cancel(run: Runner, command: Commands, sql: Sql, cp: str) -> None:
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
    await run(await command(cp, "ReserveNow", request, Result({"status": "Occupied"})))
    assert await reservation(sql, rid) is None
    event = await command(cp, "ReserveNow", request, Result({"status": "Accepted"}))
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
        await command(
            cp, "ReserveNow", {**request, "connectorId": 1}, Result({"status": "Accepted"})
        )
    )
    replaced = await reservation(sql, rid) or {}
    assert (replaced["connectorid"], replaced["connector_row_number"]) == (1, 1)
    await run(
        await command(
            cp, "CancelReservation", {"reservationId": rid}, Result({"status": "Rejected"})
        )
    )
    assert (await reservation(sql, rid) or {})["status"] == "Active"
    await run(
        await command(
            cp, "CancelReservation", {"reservationId": rid}, Result({"status": "Accepted"})
        )
    )
    assert (await reservation(sql, rid) or {})["status"] == "Cancelled"
    # A redelivered ReserveNow does not revive a cancelled reservation.
    await run(event)
    assert (await reservation(sql, rid) or {})["status"] == "Cancelled"


async def test_reserve_any_connector_or_an_unreported_one_is_recorded(
    run: Runner, command: Commands, sql: Sql, cp: str
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
        await run(await command(cp, "ReserveNow", request, Result({"status": "Accepted"})))
        row = await reservation(sql, rid)
        assert row is not None
        assert (row["chargepoint_id"], row["connectorid"], row["connector_uuid"]) == (
            cp,
            connector_id,
            None,
        )
        assert row["status"] == "Active"
        await run(
            await command(
                cp, "CancelReservation", {"reservationId": rid}, Result({"status": "Accepted"})
            )
        )
        assert (await reservation(sql, rid) or {})["status"] == "Cancelled"


async def test_reserve_on_an_unknown_charge_point_or_connector_is_not_recorded(
    run: Runner, command: Commands, sql: Sql, cp: str
) -> None:
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    request = {"connectorId": 1, "expiryDate": expiry, "idTag": "T"}
    unknown_cp, negative = new_reservation_id(), new_reservation_id()
    await run(
        await command(
            cp,
            "ReserveNow",
            {**request, "reservationId": unknown_cp},
            Result({"status": "Accepted"}),
        )
    )
    await add_chargepoint(sql, cp)
    await run(
        await command(
            cp,
            "ReserveNow",
            {**request, "connectorId": -1, "reservationId": negative},
            Result({"status": "Accepted"}),
        )
    )
    assert await reservation(sql, unknown_cp) is None
    assert await reservation(sql, negative) is None


async def test_cancel_only_on_the_same_chargepoint(
    run: Runner, command: Commands, sql: Sql, cp: str
) -> None:
    other = f"{cp}-other"
    await add_chargepoint(sql, cp)
    await add_chargepoint(sql, other)
    rid = new_reservation_id()
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    request = {"connectorId": 1, "expiryDate": expiry, "idTag": "T", "reservationId": rid}
    await run(await command(cp, "ReserveNow", request, Result({"status": "Accepted"})))
    await run(
        await command(
            other, "CancelReservation", {"reservationId": rid}, Result({"status": "Accepted"})
        )
    )
    assert (await reservation(sql, rid) or {})["status"] == "Active"


async def test_two_charge_points_hold_the_same_reservation_id(
    run: Runner, command: Commands, sql: Sql, cp: str
) -> None:
    """OCPP reservation ids are the sender's choice: ReserveNow on one charge point must
    not move or cancel another charge point's reservation with the same id."""
    other = f"{cp}-other"
    await add_chargepoint(sql, cp)
    await add_chargepoint(sql, other)
    rid = new_reservation_id()
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    request = {"connectorId": 1, "expiryDate": expiry, "idTag": "MINE", "reservationId": rid}
    accepted = Result({"status": "Accepted"})
    await run(await command(cp, "ReserveNow", request, accepted))
    await run(
        await command(
            other, "ReserveNow", {**request, "connectorId": 2, "idTag": "THEIRS"}, accepted
        )
    )
    rows = await sql(
        "SELECT chargepoint_id, connectorid, id_tag, status FROM reservation"
        " WHERE reservation_id = :rid ORDER BY chargepoint_id",
        rid=rid,
    )
    assert [(r["chargepoint_id"], r["connectorid"], r["id_tag"], r["status"]) for r in rows] == [
        (cp, 1, "MINE", "Active"),
        (other, 2, "THEIRS", "Active"),
    ]
    await run(await command(other, "CancelReservation", {"reservationId": rid}, accepted))
    rows = await sql(
        "SELECT chargepoint_id, status FROM reservation WHERE reservation_id = :rid"
        " ORDER BY chargepoint_id",
        rid=rid,
    )
    assert [(r["chargepoint_id"], r["status"]) for r in rows] == [
        (cp, "Active"),
        (other, "Cancelled"),
    ]


def profile(profile_id: int, *, limit: float = 16.0, stack: int = 1) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2025-03-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": 3}],
        },
    }


async def installations(sql: Sql, cp: str) -> dict[int, tuple[int, str]]:
    rows = await sql(
        "SELECT chargingprofile_id, connectorid, status FROM charging_profile_installation"
        " WHERE chargepoint_id = :cp",
        cp=cp,
    )
    return {r["chargingprofile_id"]: (r["connectorid"], r["status"]) for r in rows}


def new_profile_id() -> int:
    return 2_000_000 + uuid.uuid4().int % 1_000_000_000


async def test_set_charging_profile_through_the_commands_is_an_installation(
    run: Runner, command: Commands, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    first, second = new_profile_id(), new_profile_id()
    accepted = Result({"status": "Accepted"})
    await run(
        await command(
            cp,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile(first)},
            Result({"status": "Rejected"}),
        )
    )
    assert await installations(sql, cp) == {}
    await run(
        await command(
            cp,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile(first)},
            accepted,
        )
    )
    assert await installations(sql, cp) == {first: (1, "Installed")}
    [row] = await sql(
        "SELECT chargepoint_id, connector_id, stack_level, chargingprofile_purpose,"
        " charging_rate_unit, chargingschedule_period FROM charging_profile"
        " WHERE chargingprofile_id = :id",
        id=first,
    )
    assert (row["chargepoint_id"], row["connector_id"], row["stack_level"]) == (cp, 1, 1)
    assert row["chargingschedule_period"] == [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]
    # The same id again: the definition is replaced (OCPP 1.6 §5.16.2).
    await run(
        await command(
            cp,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile(first, limit=10.0)},
            accepted,
        )
    )
    [row] = await sql(
        "SELECT chargingschedule_period FROM charging_profile WHERE chargingprofile_id = :id",
        id=first,
    )
    assert row["chargingschedule_period"][0]["limit"] == 10.0
    # Another profile in the same slot (purpose, stack level) replaces the first.
    await run(
        await command(
            cp,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile(second)},
            accepted,
        )
    )
    assert await installations(sql, cp) == {first: (1, "Replaced"), second: (1, "Installed")}
    await run(await command(cp, "ClearChargingProfile", {"id": second}, accepted))
    assert await installations(sql, cp) == {first: (1, "Replaced"), second: (1, "Cleared")}
    # The API's own profiles do not collide with the sent ids.
    [next_id] = await sql(
        "INSERT INTO charging_profile (stack_level, chargingprofile_purpose,"
        " charging_rate_unit, chargingschedule_period)"
        " VALUES (0, 'TxDefaultProfile', 'A', ARRAY['{\"startPeriod\": 0, \"limit\": 6}'::jsonb])"
        " RETURNING chargingprofile_id"
    )
    assert next_id["chargingprofile_id"] > second


async def test_a_sent_profile_id_of_another_charge_points_profile_is_not_recorded(
    run: Runner, command: Commands, sql: Sql, cp: str
) -> None:
    other = f"{cp}-other"
    await add_chargepoint(sql, cp)
    await add_chargepoint(sql, other)
    shared_id = new_profile_id()
    accepted = Result({"status": "Accepted"})
    request = {"connectorId": 1, "csChargingProfiles": profile(shared_id)}
    await run(await command(other, "SetChargingProfile", request, accepted))
    changed = {"connectorId": 1, "csChargingProfiles": profile(shared_id, limit=32.0)}
    await run(await command(cp, "SetChargingProfile", changed, accepted))
    assert await installations(sql, cp) == {}
    # The same definition on a second charge point is that profile, installed there too.
    await run(await command(cp, "SetChargingProfile", request, accepted))
    assert await installations(sql, cp) == {shared_id: (1, "Installed")}
    [row] = await sql(
        "SELECT chargepoint_id FROM charging_profile WHERE chargingprofile_id = :id", id=shared_id
    )
    assert row["chargepoint_id"] == other
