"""Heartbeat, StatusNotification, firmware/diagnostics status, DataTransfer, security events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.registry.handlers.v16 import data_transfer
from shared.bus.topology import GATEWAY_HEARTBEATS
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope, Kind
from shared.settings import Settings, UnknownChargePointPolicy
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import call

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def status(connector: int, value: str, at: str | None, error: str = "NoError") -> dict[str, object]:
    payload: dict[str, object] = {"connectorId": connector, "errorCode": error, "status": value}
    if at is not None:
        payload["timestamp"] = at
    return payload


# --------------------------------------------------------------------------- Heartbeat


async def test_heartbeat_updates_last_heartbeat_and_writes_a_row(
    run: Run, sql: Sql, cp: str
) -> None:
    env = call(cp, "Heartbeat", {}, created_at=T0)
    assert await run([env]) == [None]  # the gateway answered it itself
    [row] = await sql("select last_heartbeat from chargepoint where chargepoint_id = :cp", cp=cp)
    assert row["last_heartbeat"] == T0
    beats = await sql(
        "select timestamp, message_id from heartbeat where chargepoint_id = :cp", cp=cp
    )
    assert beats == [{"timestamp": T0, "message_id": env.correlation_id}]
    log = await sql(
        "select direction, message_type, payload from ocpp_message where message_id = :m"
        " order by message_type",
        m=env.correlation_id,
    )
    assert [(r["direction"], r["message_type"]) for r in log] == [("in", 2), ("out", 3)]
    assert log[1]["payload"] == {"currentTime": "2024-05-01T12:00:00.000Z"}


async def test_older_heartbeat_consumed_later_does_not_move_it_back(
    run: Run, sql: Sql, cp: str
) -> None:
    newer = call(cp, "Heartbeat", {}, created_at=T0 + timedelta(seconds=60))
    older = call(cp, "Heartbeat", {}, created_at=T0)
    await run([newer])
    await run([older])
    [row] = await sql("select last_heartbeat from chargepoint where chargepoint_id = :cp", cp=cp)
    assert row["last_heartbeat"] == T0 + timedelta(seconds=60)
    assert len(await sql("select 1 from heartbeat where chargepoint_id = :cp", cp=cp)) == 2


async def test_redelivered_heartbeat_writes_no_second_row(run: Run, sql: Sql, cp: str) -> None:
    env = call(cp, "Heartbeat", {}, created_at=T0)
    await run([env, env])  # twice in one batch
    await run([env])  # and again later
    assert len(await sql("select 1 from heartbeat where chargepoint_id = :cp", cp=cp)) == 1
    assert (
        len(await sql("select 1 from ocpp_message where message_id = :m", m=env.correlation_id))
        == 2
    )


def flush(*beats: tuple[str, datetime, str]) -> Envelope:
    """A gateway's `gateway.heartbeats` flush: (charge point, time, message key) each."""
    return Envelope(
        kind=Kind.EVENT,
        action=GATEWAY_HEARTBEATS,
        node_id="test-node",
        payload={
            "heartbeats": [
                {
                    "chargepoint_id": cp,
                    "at": at.isoformat(),
                    "ocpp_version": "ocpp1.6",
                    "unique_id": "h",
                    "message_id": key,
                }
                for cp, at, key in beats
            ]
        },
    )


async def test_a_gateway_flush_sets_last_heartbeat_of_each_charge_point(
    run: Run, sql: Sql, cp: str
) -> None:
    other = f"{cp}-2"
    keys = [uuid.uuid4().hex for _ in range(3)]
    assert await run([flush((cp, T0, keys[0]), (other, T0 + timedelta(seconds=5), keys[1]))]) == [
        None
    ]
    rows = await sql(
        "select chargepoint_id, last_heartbeat from chargepoint where chargepoint_id in (:a, :b)"
        " order by chargepoint_id",
        a=cp,
        b=other,
    )
    assert [r["last_heartbeat"] for r in rows] == [T0, T0 + timedelta(seconds=5)]
    beats = await sql(
        "select chargepoint_id, timestamp, message_id from heartbeat"
        " where chargepoint_id in (:a, :b) order by chargepoint_id",
        a=cp,
        b=other,
    )
    assert [(b["chargepoint_id"], b["message_id"]) for b in beats] == [
        (cp, keys[0]),
        (other, keys[1]),
    ]
    # Not OCPP frames of their own: nothing in the message log.
    assert await sql("select 1 from ocpp_message where chargepoint_id = :cp", cp=cp) == []
    # A later flush moves it on, an older one (a flush consumed late) does not move it back,
    # and a flush redelivered writes no second row.
    await run([flush((cp, T0 + timedelta(seconds=60), keys[2]))])
    await run([flush((cp, T0 - timedelta(seconds=60), uuid.uuid4().hex))])
    await run([flush((cp, T0 + timedelta(seconds=60), keys[2]))])
    [row] = await sql("select last_heartbeat from chargepoint where chargepoint_id = :cp", cp=cp)
    assert row["last_heartbeat"] == T0 + timedelta(seconds=60)
    assert len(await sql("select 1 from heartbeat where chargepoint_id = :cp", cp=cp)) == 3


async def test_a_gateway_flush_and_single_heartbeats_in_one_batch(
    run: Run, sql: Sql, cp: str
) -> None:
    # A gateway with batching off (or an older one) beside one with it on.
    single = call(cp, "Heartbeat", {}, created_at=T0 + timedelta(seconds=1))
    await run([flush((cp, T0, uuid.uuid4().hex)), single])
    [row] = await sql("select last_heartbeat from chargepoint where chargepoint_id = :cp", cp=cp)
    assert row["last_heartbeat"] == T0 + timedelta(seconds=1)
    assert len(await sql("select 1 from heartbeat where chargepoint_id = :cp", cp=cp)) == 2


# --------------------------------------------------------------------------- StatusNotification


async def test_connector_is_created_on_first_sight(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await run([call(cp, "StatusNotification", status(1, "Available", ts(0)))])
    [conn] = await sql(
        "select connectorid, connector_status, error_code, status_timestamp, availability_status"
        " from connector where chargepoint_id = :cp",
        cp=cp,
    )
    assert conn == {
        "connectorid": 1,
        "connector_status": "Available",
        "error_code": "NoError",
        "status_timestamp": T0,
        "availability_status": "Operative",
    }
    [event] = publisher.named("connector.status_changed")
    assert event.payload["connectorId"] == 1
    assert event.payload["status"] == "Available"
    assert event.payload["previousStatus"] is None


async def test_out_of_order_status_leaves_the_newer(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await run([call(cp, "StatusNotification", status(1, "Available", ts(0)))])
    newer = call(cp, "StatusNotification", status(1, "Charging", ts(20)))
    older = call(cp, "StatusNotification", status(1, "Preparing", ts(10)))
    await run([newer])
    await run([older])  # consumed after the newer one
    [conn] = await sql(
        "select connector_status, status_timestamp from connector where chargepoint_id = :cp",
        cp=cp,
    )
    assert conn == {"connector_status": "Charging", "status_timestamp": T0 + timedelta(seconds=20)}
    history = await sql(
        "select status from status_notification where chargepoint_id = :cp order by timestamp",
        cp=cp,
    )
    assert [r["status"] for r in history] == ["Available", "Preparing", "Charging"]
    changes = [e.payload["status"] for e in publisher.named("connector.status_changed")]
    assert changes == ["Available", "Charging"]


async def test_scheduled_availability_resolves_with_the_status_that_applies_it(
    run: Run, sql: Sql, cp: str
) -> None:
    """ChangeAvailability answered Scheduled: it takes effect after the transaction."""

    async def availability() -> dict[int, str]:
        rows = await sql(
            "select connectorid, availability_status from connector where chargepoint_id = :cp",
            cp=cp,
        )
        return {r["connectorid"]: r["availability_status"] for r in rows}

    await run(
        [
            call(cp, "StatusNotification", status(1, "Charging", ts(0))),
            call(cp, "StatusNotification", status(2, "Charging", ts(0))),
            call(cp, "StatusNotification", status(3, "Preparing", ts(0))),
        ]
    )
    # What services/registry/command_effects.py writes for a Scheduled answer.
    await sql(
        "update connector set availability_status = 'Scheduled' where chargepoint_id = :cp",
        cp=cp,
    )
    # Still in the transaction (or saying nothing about availability): stays Scheduled.
    await run(
        [
            call(cp, "StatusNotification", status(1, "SuspendedEV", ts(10))),
            call(cp, "StatusNotification", status(1, "Finishing", ts(20))),
            call(cp, "StatusNotification", status(2, "Faulted", ts(10), "GroundFailure")),
        ]
    )
    assert await availability() == {1: "Scheduled", 2: "Scheduled", 3: "Scheduled"}
    # An older Unavailable consumed late is history only: no resolution either.
    await run([call(cp, "StatusNotification", status(1, "Unavailable", ts(5)))])
    assert (await availability())[1] == "Scheduled"
    # The transaction ended: Unavailable -> Inoperative, Available -> Operative.
    await run(
        [
            call(cp, "StatusNotification", status(1, "Unavailable", ts(30))),
            call(cp, "StatusNotification", status(3, "Available", ts(30))),
        ]
    )
    assert await availability() == {1: "Inoperative", 2: "Scheduled", 3: "Operative"}
    # Resolved means commands own it again: later statuses do not touch it.
    await run([call(cp, "StatusNotification", status(1, "Available", ts(40)))])
    assert (await availability())[1] == "Inoperative"


async def test_out_of_order_in_one_batch_too(run: Run, sql: Sql, cp: str) -> None:
    await run(
        [
            call(cp, "StatusNotification", status(2, "Finishing", ts(30))),
            call(cp, "StatusNotification", status(2, "Charging", ts(20))),
        ]
    )
    [conn] = await sql("select connector_status from connector where chargepoint_id = :cp", cp=cp)
    assert conn["connector_status"] == "Finishing"


async def test_status_without_timestamp_is_ordered_by_receipt(run: Run, sql: Sql, cp: str) -> None:
    later = call(
        cp,
        "StatusNotification",
        status(1, "Faulted", None, "GroundFailure"),
        created_at=T0 + timedelta(seconds=5),
    )
    earlier = call(cp, "StatusNotification", status(1, "Available", None), created_at=T0)
    await run([later])
    await run([earlier])
    [conn] = await sql(
        "select connector_status, error_code from connector where chargepoint_id = :cp", cp=cp
    )
    assert conn == {"connector_status": "Faulted", "error_code": "GroundFailure"}
    rows = await sql("select timestamp from status_notification where chargepoint_id = :cp", cp=cp)
    assert [r["timestamp"] for r in rows] == [None, None]  # what the charge point reported


async def test_status_notification_row_keeps_every_field(run: Run, sql: Sql, cp: str) -> None:
    payload = {
        **status(1, "Faulted", ts(0), "OtherError"),
        "info": "door open",
        "vendorId": "com.acme",
        "vendorErrorCode": "E42",
    }
    env = call(cp, "StatusNotification", payload)
    await run([env])
    [row] = await sql(
        "select s.connectorid, s.error_code, s.info, s.status, s.timestamp, s.vendor_id,"
        " s.vendor_error_code, s.message_id, s.connector_uuid = c.uuid as linked"
        " from status_notification s join connector c on c.chargepoint_id = s.chargepoint_id"
        " where s.chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {
        "connectorid": 1,
        "error_code": "OtherError",
        "info": "door open",
        "status": "Faulted",
        "timestamp": T0,
        "vendor_id": "com.acme",
        "vendor_error_code": "E42",
        "message_id": env.correlation_id,
        "linked": True,
    }


async def test_redelivered_status_writes_no_second_row(run: Run, sql: Sql, cp: str) -> None:
    env = call(cp, "StatusNotification", status(1, "Available", ts(0)))
    await run([env])
    await run([env])
    rows = await sql("select 1 from status_notification where chargepoint_id = :cp", cp=cp)
    assert len(rows) == 1
    assert len(await sql("select 1 from connector where chargepoint_id = :cp", cp=cp)) == 1


async def test_connector_zero_is_the_chargepoint_status(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await run([call(cp, "StatusNotification", status(0, "Unavailable", ts(10)))])
    await run([call(cp, "StatusNotification", status(0, "Available", ts(5)))])  # older
    [row] = await sql(
        "select chargepoint_status, status_timestamp from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {
        "chargepoint_status": "Unavailable",
        "status_timestamp": T0 + timedelta(seconds=10),
    }
    assert await sql("select 1 from connector where chargepoint_id = :cp", cp=cp) == []
    rows = await sql(
        "select connectorid, connector_uuid from status_notification where chargepoint_id = :cp",
        cp=cp,
    )
    assert rows == [{"connectorid": 0, "connector_uuid": None}] * 2
    [event] = publisher.named("chargepoint.status_changed")
    assert event.payload["status"] == "Unavailable"


async def test_connector_zero_with_a_connector_only_status_is_stored_not_applied(
    run: Run, sql: Sql, cp: str
) -> None:
    await run([call(cp, "StatusNotification", status(0, "Charging", ts(0)))])
    [row] = await sql(
        "select chargepoint_status from chargepoint where chargepoint_id = :cp", cp=cp
    )
    assert row["chargepoint_status"] is None
    assert (
        len(await sql("select 1 from status_notification where chargepoint_id = :cp", cp=cp)) == 1
    )


async def test_status_from_a_clock_far_ahead_does_not_pin_the_connector(
    run: Run, sql: Sql, cp: str
) -> None:
    received = datetime.now(UTC)
    ahead = (received + timedelta(days=365)).isoformat()
    await run([call(cp, "StatusNotification", status(1, "Faulted", ahead), created_at=received)])
    await run(
        [
            call(
                cp,
                "StatusNotification",
                status(1, "Available", (received + timedelta(seconds=1)).isoformat()),
                created_at=received + timedelta(seconds=1),
            )
        ]
    )
    [conn] = await sql("select connector_status from connector where chargepoint_id = :cp", cp=cp)
    assert conn["connector_status"] == "Available"


# --------------------------------------------------------------------------- firmware, diagnostics


async def test_latest_firmware_and_diagnostics_status(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await run([call(cp, "FirmwareStatusNotification", {"status": "Downloading"})])
    await run([call(cp, "FirmwareStatusNotification", {"status": "Installed"})])
    await run([call(cp, "DiagnosticsStatusNotification", {"status": "Uploaded"})])
    [row] = await sql(
        "select firmware_status, diagnostics_status from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {"firmware_status": "Installed", "diagnostics_status": "Uploaded"}
    events = publisher.named("chargepoint.firmware_status")
    assert [(e.payload["status"], e.payload["previousStatus"]) for e in events] == [
        ("Downloading", None),
        ("Installed", "Downloading"),
    ]
    history = await sql(
        "select payload from ocpp_message where chargepoint_id = :cp and direction = 'in'"
        " and action = 'FirmwareStatusNotification' order by created_at",
        cp=cp,
    )
    assert [r["payload"]["status"] for r in history] == ["Downloading", "Installed"]


async def test_security_extension_notifications(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await run(
        [
            call(
                cp,
                "SignedFirmwareStatusNotification",
                {"status": "SignatureVerified", "requestId": 7},
            ),
            call(cp, "LogStatusNotification", {"status": "Uploading", "requestId": 8}),
            call(
                cp,
                "SecurityEventNotification",
                {"type": "TamperDetectionActivated", "timestamp": ts(0)},
            ),
        ]
    )
    [row] = await sql(
        "select firmware_status, diagnostics_status from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {"firmware_status": "SignatureVerified", "diagnostics_status": "Uploading"}
    [event] = publisher.named("chargepoint.security_event")
    assert event.payload["type"] == "TamperDetectionActivated"
    logged = await sql(
        "select action from ocpp_message where chargepoint_id = :cp and direction = 'in'", cp=cp
    )
    assert sorted(r["action"] for r in logged) == [
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignedFirmwareStatusNotification",
    ]


# --------------------------------------------------------------------------- DataTransfer


@pytest.fixture
def acme() -> Iterator[str]:
    async def handler(
        ctx: HandlerContext, env: Envelope, req: data_transfer.DataTransferRequest
    ) -> Payload:
        return {"status": "Accepted", "data": f"echo:{req.data}"}

    data_transfer.register_vendor("com.acme", handler)
    yield "com.acme"
    data_transfer.unregister_vendor("com.acme")


async def test_data_transfer_of_unknown_vendor(run: Run, sql: Sql, cp: str) -> None:
    env = call(cp, "DataTransfer", {"vendorId": "com.nobody", "messageId": "m1", "data": "x"})
    [reply] = await run([env])
    assert isinstance(reply, Envelope) and reply.kind is Kind.RESULT
    assert reply.payload == {"status": "UnknownVendorId"}
    [row] = await sql(
        "select vendor_id, data_message_id, data, direction, message_id from data_transfer"
        " where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {
        "vendor_id": "com.nobody",
        "data_message_id": "m1",
        "data": "x",
        "direction": "in",
        "message_id": env.correlation_id,
    }
    log = await sql(
        "select payload from ocpp_message where message_id = :m and direction = 'out'",
        m=env.correlation_id,
    )
    assert log == [{"payload": {"status": "UnknownVendorId"}}]


async def test_data_transfer_to_a_registered_vendor(run: Run, sql: Sql, cp: str, acme: str) -> None:
    env = call(cp, "DataTransfer", {"vendorId": acme, "data": "ping"})
    [reply] = await run([env])
    assert isinstance(reply, Envelope) and reply.payload == {
        "status": "Accepted",
        "data": "echo:ping",
    }
    await run([env])  # redelivered: answered again, stored once
    assert len(await sql("select 1 from data_transfer where chargepoint_id = :cp", cp=cp)) == 1


# --------------------------------------------------------------------------- contract violations


async def test_status_the_gateway_should_have_refused_is_dead_lettered(
    run: Run, sql: Sql, cp: str
) -> None:
    """Refused at parsing (the gateway answered it already: the consumer dead-letters the
    refusal nobody waits for); nothing is written, not even the charge point."""
    [outcome] = await run([call(cp, "StatusNotification", status(1, "Exploded", ts(0)))])
    assert isinstance(outcome, Envelope) and outcome.error_code == "PropertyConstraintViolation"
    assert (outcome.error_details or {})["path"] == "payload.status"
    assert await sql("select 1 from chargepoint where chargepoint_id = :cp", cp=cp) == []
    assert await sql("select 1 from status_notification where chargepoint_id = :cp", cp=cp) == []


@pytest.mark.parametrize(
    "settings",
    [Settings(unknown_chargepoints=UnknownChargePointPolicy.ACCEPT)],
    ids=["accept"],
)
async def test_report_before_boot_creates_the_chargepoint_as_the_policy_says(
    run: Run, sql: Sql, cp: str, settings: Settings
) -> None:
    await run([call(cp, "Heartbeat", {})])
    [row] = await sql(
        "select registration_status from chargepoint where chargepoint_id = :cp", cp=cp
    )
    assert row["registration_status"] == "Accepted"
    [reply] = await run(
        [call(cp, "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})]
    )
    assert isinstance(reply, Envelope) and reply.payload["status"] == "Accepted"


async def test_security_event_notification_is_stored_once(run: Run, sql: Sql, cp: str) -> None:
    notification = call(
        cp,
        "SecurityEventNotification",
        {"type": "InvalidFirmwareSignature", "timestamp": ts(0), "techInfo": "bad sig"},
    )
    await run([notification])
    await run([notification])  # redelivered: same correlation id, no second row
    rows = await sql(
        "select source, type, tech_info, occurred_at from security_event "
        "where chargepoint_id = :cp",
        cp=cp,
    )
    assert [(r["source"], r["type"], r["tech_info"]) for r in rows] == [
        ("chargepoint", "InvalidFirmwareSignature", "bad sig")
    ]
