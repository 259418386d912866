"""OCPP 2.0.1 messages through the registry's Dispatcher on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from shared.bus.consumer import Outcome
from shared.envelope import Envelope, Kind
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import call as call16

pytestmark = pytest.mark.integration

call = partial(call16, ocpp_version="ocpp2.0.1")
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)

EVENT_DATA = {
    "eventId": 1,
    "timestamp": "2025-05-01T09:00:00Z",
    "trigger": "Delta",
    "actualValue": "1",
    "eventNotificationType": "HardWiredNotification",
    "component": {"name": "C"},
    "variable": {"name": "V"},
}
BOOT = {
    "reason": "PowerUp",
    "chargingStation": {
        "model": "Wallbox-2",
        "vendorName": "Acme Twenty One",
        "serialNumber": "SN-201",
        "firmwareVersion": "2.0.1-a",
        "modem": {"iccid": "8931000", "imsi": "262000"},
    },
}


def result(reply: Outcome) -> dict[str, Any]:
    assert isinstance(reply, Envelope), reply
    assert reply.kind is Kind.RESULT, (reply.error_code, reply.error_description)
    return reply.payload


async def test_boot_registers_the_station(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    answer = result((await run([call(cp, "BootNotification", BOOT)]))[0])
    assert answer["status"] == "Pending"  # default policy for an unknown id
    assert answer["interval"] == 120 and answer["currentTime"].endswith("Z")
    [row] = await sql("select * from chargepoint where chargepoint_id = :cp", cp=cp)
    assert row["chargepoint_vendor"] == "Acme Twenty One"
    assert row["chargepoint_model"] == "Wallbox-2"
    assert row["chargepoint_serial_number"] == "SN-201"
    assert row["firmware_version"] == "2.0.1-a"
    assert (row["iccid"], row["imsi"]) == ("8931000", "262000")
    assert row["ocpp_version"] == "ocpp2.0.1"
    [booted] = publisher.named("chargepoint.booted")
    assert booted.payload["reason"] == "PowerUp"
    # Accepted by an operator: the next boot says so; a boot without modem keeps it.
    await sql(
        "update chargepoint set registration_status = 'Accepted' where chargepoint_id = :cp", cp=cp
    )
    again = {"reason": "Watchdog", "chargingStation": {"model": "Wallbox-2", "vendorName": "A"}}
    assert result((await run([call(cp, "BootNotification", again)]))[0])["status"] == "Accepted"
    [row] = await sql(
        "select iccid, chargepoint_vendor from chargepoint where chargepoint_id = :cp", cp=cp
    )
    assert row == {"iccid": "8931000", "chargepoint_vendor": "A"}


async def test_heartbeat_and_status(run: Run, sql: Sql, cp: str) -> None:
    beat = call(cp, "Heartbeat", {}, created_at=T0)
    status = {
        "timestamp": "2025-05-01T09:00:00.123Z",
        "connectorStatus": "Occupied",
        "evseId": 2,
        "connectorId": 1,
    }
    older = {**status, "timestamp": "2025-05-01T08:59:00Z", "connectorStatus": "Available"}
    station = {**status, "evseId": 0, "connectorId": 0, "connectorStatus": "Unavailable"}
    replies = await run(
        [
            beat,
            call(cp, "StatusNotification", status),
            call(cp, "StatusNotification", older),
            call(cp, "StatusNotification", station),
        ]
    )
    assert replies == [None, None, None, None]
    [row] = await sql(
        "select last_heartbeat, chargepoint_status from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {"last_heartbeat": T0, "chargepoint_status": "Unavailable"}
    [connector] = await sql(
        "select connectorid, connector_status, error_code from connector "
        "where chargepoint_id = :cp",
        cp=cp,
    )
    assert connector == {"connectorid": 2, "connector_status": "Occupied", "error_code": "NoError"}
    history = await sql(
        "select connectorid, status, error_code from status_notification "
        "where chargepoint_id = :cp order by timestamp",
        cp=cp,
    )
    assert history == [
        {"connectorid": 2, "status": "Available", "error_code": "NoError"},
        {"connectorid": 2, "status": "Occupied", "error_code": "NoError"},
        {"connectorid": 0, "status": "Unavailable", "error_code": "NoError"},
    ]


async def test_every_2_0_1_status_passes_the_checks(run: Run, sql: Sql, cp: str) -> None:
    statuses = ["Available", "Occupied", "Reserved", "Unavailable", "Faulted"]
    await run(
        [
            call(
                cp,
                "StatusNotification",
                {
                    "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                    "connectorStatus": s,
                    "evseId": 1,
                    "connectorId": 1,
                },
            )
            for i, s in enumerate(statuses)
        ]
    )
    rows = await sql(
        "select status from status_notification where chargepoint_id = :cp order by timestamp",
        cp=cp,
    )
    assert [r["status"] for r in rows] == statuses


async def test_notifications_and_data_transfer(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    envs = [
        call(cp, "FirmwareStatusNotification", {"status": "Installed", "requestId": 3}),
        call(cp, "LogStatusNotification", {"status": "Uploaded", "requestId": 4}),
        call(
            cp,
            "SecurityEventNotification",
            {"type": "FirmwareUpdated", "timestamp": "2025-05-01T09:00:00Z"},
        ),
        call(
            cp,
            "NotifyEvent",
            {"generatedAt": "2025-05-01T09:00:00Z", "seqNo": 0, "eventData": [EVENT_DATA]},
        ),
        call(cp, "DataTransfer", {"vendorId": "com.nobody", "data": {"x": 1}}),
    ]
    replies = await run(envs)
    assert replies[:4] == [None, None, None, None]
    assert result(replies[4]) == {"status": "UnknownVendorId"}
    [row] = await sql(
        "select firmware_status, diagnostics_status from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {"firmware_status": "Installed", "diagnostics_status": "Uploaded"}
    [dt] = await sql("select vendor_id, data from data_transfer where chargepoint_id = :cp", cp=cp)
    assert dt == {"vendor_id": "com.nobody", "data": '{"x":1}'}
    assert "chargepoint.security_event" in publisher.names()
    log = await sql("select count(*) as n from ocpp_message where chargepoint_id = :cp", cp=cp)
    assert log[0]["n"] == 10


async def test_notify_report_upserts_actual_values(run: Run, sql: Sql, cp: str) -> None:
    def report(value: str) -> dict[str, Any]:
        return {
            "requestId": 1,
            "generatedAt": "2025-05-01T09:00:00Z",
            "seqNo": 0,
            "reportData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "variableAttribute": [
                        {"type": "Actual", "value": value, "mutability": "ReadWrite"},
                        {"type": "Target", "value": "999"},
                    ],
                },
                {
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "ConnectorType"},
                    "variableAttribute": [{"value": "cType2", "mutability": "ReadOnly"}],
                },
            ],
        }

    await run([call(cp, "NotifyReport", report("300"))])
    await run([call(cp, "NotifyReport", report("60"))])
    rows = await sql(
        "select key, value, readonly from chargepoint_configuration where chargepoint_id = :cp "
        "order by key",
        cp=cp,
    )
    assert rows == [
        {"key": "Connector@1/1.ConnectorType", "value": "cType2", "readonly": True},
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60", "readonly": False},
    ]
