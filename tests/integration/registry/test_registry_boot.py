"""BootNotification through the registry's Dispatcher on the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.envelope import Envelope, Kind
from shared.settings import Settings, UnknownChargePointPolicy
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import call

pytestmark = pytest.mark.integration

BOOT = {
    "chargePointVendor": "Acme",
    "chargePointModel": "Fast-50",
    "chargePointSerialNumber": "SN-1",
    "chargeBoxSerialNumber": "BOX-1",
    "firmwareVersion": "1.2.3",
    "iccid": "8931",
    "imsi": "2620",
    "meterType": "MT",
    "meterSerialNumber": "MSN",
}


async def chargepoint_row(sql: Sql, cp: str) -> dict[str, object]:
    [row] = await sql("select * from chargepoint where chargepoint_id = :cp", cp=cp)
    return row


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (Settings(unknown_chargepoints=UnknownChargePointPolicy.PENDING), "Pending"),
        (Settings(unknown_chargepoints=UnknownChargePointPolicy.ACCEPT), "Accepted"),
        (Settings(unknown_chargepoints=UnknownChargePointPolicy.REJECT), "Rejected"),
    ],
    ids=["pending", "accept", "reject"],
)
async def test_boot_of_unknown_id_follows_the_policy(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher, settings: Settings, expected: str
) -> None:
    [reply] = await run([call(cp, "BootNotification", BOOT)])
    assert isinstance(reply, Envelope) and reply.kind is Kind.RESULT
    assert reply.payload["status"] == expected
    assert reply.payload["interval"] == settings.heartbeat_interval
    assert datetime.fromisoformat(reply.payload["currentTime"]).tzinfo is not None
    row = await chargepoint_row(sql, cp)
    # Even under `reject` the row exists (as Rejected): operators see who knocks.
    assert row["registration_status"] == expected
    assert row["chargepoint_vendor"] == "Acme"
    assert row["chargepoint_model"] == "Fast-50"
    assert row["chargepoint_serial_number"] == "SN-1"
    assert row["chargebox_serial_number"] == "BOX-1"
    assert row["firmware_version"] == "1.2.3"
    assert (row["iccid"], row["imsi"]) == ("8931", "2620")
    assert (row["meter_type"], row["meter_serial_number"]) == ("MT", "MSN")
    assert row["ocpp_version"] == "ocpp1.6"
    [booted] = publisher.named("chargepoint.booted")
    assert booted.chargepoint_id == cp
    assert booted.payload["status"] == expected
    assert booted.payload["created"] is True


async def test_boot_of_accepted_chargepoint_updates_it(run: Run, sql: Sql, cp: str) -> None:
    await sql(
        "insert into chargepoint (chargepoint_id, registration_status, firmware_version,"
        " iccid) values (:cp, 'Accepted', '0.9', 'old-iccid')",
        cp=cp,
    )
    payload = {"chargePointVendor": "Acme", "chargePointModel": "Fast-50", "firmwareVersion": "2.0"}
    [reply] = await run([call(cp, "BootNotification", payload)])
    assert isinstance(reply, Envelope) and reply.payload["status"] == "Accepted"
    row = await chargepoint_row(sql, cp)
    assert row["firmware_version"] == "2.0"
    assert row["iccid"] == "old-iccid"  # not reported this time: kept
    assert row["registration_status"] == "Accepted"


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
async def test_boot_answers_the_stored_registration(
    run: Run, sql: Sql, cp: str, status: str
) -> None:
    await sql(
        "insert into chargepoint (chargepoint_id, registration_status) values (:cp, :s)",
        cp=cp,
        s=status,
    )
    [reply] = await run([call(cp, "BootNotification", BOOT)])
    assert isinstance(reply, Envelope) and reply.payload["status"] == status


async def test_boot_of_decommissioned_chargepoint_is_rejected(run: Run, sql: Sql, cp: str) -> None:
    await sql(
        "insert into chargepoint (chargepoint_id, registration_status, decommissioned_at)"
        " values (:cp, 'Accepted', :at)",
        cp=cp,
        at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    [reply] = await run([call(cp, "BootNotification", BOOT)])
    assert isinstance(reply, Envelope) and reply.payload["status"] == "Rejected"


async def test_over_long_strings_are_refused_before_any_write(run: Run, sql: Sql, cp: str) -> None:
    """The gateway refuses strings longer than the schema's maxLength; one that reaches the
    registry anyway is refused the same way at parsing, and nothing of it is stored."""
    payload = {"chargePointVendor": "V" * 80, "chargePointModel": "M"}
    [reply] = await run([call(cp, "BootNotification", payload)])
    assert isinstance(reply, Envelope) and reply.kind is Kind.ERROR
    assert reply.error_code == "PropertyConstraintViolation"
    assert (reply.error_details or {})["path"] == "payload.chargePointVendor"
    assert await sql("select 1 from chargepoint where chargepoint_id = :cp", cp=cp) == []
    # What went on the wire is logged: the CALL and the CALLERROR answered.
    logged = await sql(
        "select message_type, error_code from ocpp_message where chargepoint_id = :cp"
        " order by message_type",
        cp=cp,
    )
    assert [(r["message_type"], r["error_code"]) for r in logged] == [
        (2, None),
        (4, "PropertyConstraintViolation"),
    ]


async def test_boot_writes_call_and_answer_to_the_message_log(run: Run, sql: Sql, cp: str) -> None:
    env = call(cp, "BootNotification", BOOT)
    [reply] = await run([env])
    assert isinstance(reply, Envelope)
    rows = await sql(
        "select direction, message_type, action, unique_id, payload from ocpp_message"
        " where message_id = :m order by message_type",
        m=env.correlation_id,
    )
    assert [(r["direction"], r["message_type"]) for r in rows] == [("in", 2), ("out", 3)]
    assert all(r["unique_id"] == env.unique_id and r["action"] == "BootNotification" for r in rows)
    assert rows[0]["payload"] == BOOT
    assert rows[1]["payload"] == reply.payload


async def test_redelivered_boot_writes_no_second_log_row(run: Run, sql: Sql, cp: str) -> None:
    env = call(cp, "BootNotification", BOOT)
    await run([env])
    [reply] = await run([env])
    assert isinstance(reply, Envelope) and reply.payload["status"] == "Pending"
    rows = await sql("select id from ocpp_message where message_id = :m", m=env.correlation_id)
    assert len(rows) == 2
