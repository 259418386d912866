"""OCPP 2.0.1 reports into the device model: NotifyReport parts (resent, out of order),
NotifyMonitoringReport, NotifyCustomerInformation, NotifyDisplayMessages and
PublishFirmwareStatusNotification, through the registry's Dispatcher on the real database."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from tests.factories import Run, Sql

from .helpers import call as call16

pytestmark = pytest.mark.integration

call = partial(call16, ocpp_version="ocpp2.0.1")
AT = "2025-05-01T09:00:00Z"


def item(
    component: dict[str, Any], variable: str, *attributes: dict[str, Any], **chars: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "component": component,
        "variable": {"name": variable},
        "variableAttribute": list(attributes),
    }
    if chars:
        data["variableCharacteristics"] = chars
    return data


def part(request_id: int, seq_no: int, tbc: bool, *data: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "generatedAt": AT,
        "seqNo": seq_no,
        "tbc": tbc,
        "reportData": list(data),
    }


async def report(sql: Sql, cp: str, kind: str = "NotifyReport") -> list[dict[str, Any]]:
    return await sql(
        "select request_id, status, parts, last_seq_no, completed_at is not null as done"
        " from device_report where chargepoint_id = :cp and kind = :kind order by request_id",
        cp=cp,
        kind=kind,
    )


async def attributes(sql: Sql, cp: str) -> dict[str, Any]:
    rows = await sql(
        "select c.name as component, c.evse_id, c.connector_id, v.name as variable,"
        " a.type, a.value, a.mutability, a.persistent, a.constant, v.unit, v.data_type,"
        " v.max_limit, v.supports_monitoring"
        " from device_variable_attribute a join device_variable v on v.id = a.variable_id"
        " join device_component c on c.id = v.component_id where c.chargepoint_id = :cp",
        cp=cp,
    )
    return {
        f"{r['component']}@{r['evse_id']}/{r['connector_id']}.{r['variable']}/{r['type']}": r
        for r in rows
    }


async def test_a_three_part_report_with_a_resend_is_assembled(run: Run, sql: Sql, cp: str) -> None:
    ctrlr = {"name": "OCPPCommCtrlr"}
    connector = {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    p0 = call(
        cp,
        "NotifyReport",
        part(
            7,
            0,
            True,
            item(
                ctrlr,
                "HeartbeatInterval",
                {"type": "Actual", "value": "300", "mutability": "ReadWrite", "persistent": True},
                {"type": "MinSet", "value": "30"},
                unit="s",
                dataType="integer",
                maxLimit=86400,
                supportsMonitoring=False,
            ),
        ),
    )
    p1 = call(
        cp,
        "NotifyReport",
        part(
            7,
            1,
            True,
            item(
                connector,
                "ConnectorType",
                {"value": "cType2", "mutability": "ReadOnly", "constant": True},
            ),
        ),
    )
    p2 = call(
        cp,
        "NotifyReport",
        part(7, 2, False, item({"name": "EVSE", "evse": {"id": 1}}, "Power", {"value": "22000"})),
    )
    await run([p0])
    assert await report(sql, cp) == [
        {"request_id": 7, "status": "Receiving", "parts": 1, "last_seq_no": None, "done": False}
    ]
    # The last part before the middle one, and the first one resent: the same frame, and
    # the same content as a new CALL (a new message id).
    await run([p2, p0, call(cp, "NotifyReport", dict(p0.payload))])
    assert (await report(sql, cp))[0]["status"] == "Receiving"
    assert (await report(sql, cp))[0]["parts"] == 2
    await run([p1])
    assert await report(sql, cp) == [
        {"request_id": 7, "status": "Complete", "parts": 3, "last_seq_no": 2, "done": True}
    ]
    model = await attributes(sql, cp)
    assert set(model) == {
        "OCPPCommCtrlr@None/None.HeartbeatInterval/Actual",
        "OCPPCommCtrlr@None/None.HeartbeatInterval/MinSet",
        "Connector@1/1.ConnectorType/Actual",
        "EVSE@1/None.Power/Actual",
    }
    hb = model["OCPPCommCtrlr@None/None.HeartbeatInterval/Actual"]
    assert (hb["value"], hb["mutability"], hb["persistent"], hb["constant"]) == (
        "300",
        "ReadWrite",
        True,
        False,
    )
    assert (hb["unit"], hb["data_type"], int(hb["max_limit"]), hb["supports_monitoring"]) == (
        "s",
        "integer",
        86400,
        False,
    )
    ct = model["Connector@1/1.ConnectorType/Actual"]
    assert (ct["value"], ct["mutability"], ct["constant"]) == ("cType2", "ReadOnly", True)
    # The flat configuration view keeps the Actual values.
    keys = await sql(
        "select key from chargepoint_configuration where chargepoint_id = :cp order by key", cp=cp
    )
    assert [k["key"] for k in keys] == [
        "Connector@1/1.ConnectorType",
        "EVSE@1.Power",
        "OCPPCommCtrlr.HeartbeatInterval",
    ]
    parts = await sql(
        "select count(*) as n from device_report_part where chargepoint_id = :cp", cp=cp
    )
    assert parts[0]["n"] == 3

    # A later report of the same requestId (a new message) starts afresh and upserts: one
    # row per component / variable / attribute, the value updated, names folded by case.
    again = call(
        cp,
        "NotifyReport",
        part(7, 0, False, item({"name": "ocppcommctrlr"}, "heartbeatinterval", {"value": "60"})),
    )
    await run([again])
    assert await report(sql, cp) == [
        {"request_id": 7, "status": "Complete", "parts": 1, "last_seq_no": 0, "done": True}
    ]
    model = await attributes(sql, cp)
    assert len(model) == 4
    hb = model["OCPPCommCtrlr@None/None.HeartbeatInterval/Actual"]
    assert hb["value"] == "60" and hb["unit"] == "s"  # characteristics kept
    components = await sql(
        "select count(*) as n from device_component where chargepoint_id = :cp", cp=cp
    )
    assert components[0]["n"] == 3


async def test_negative_seq_no_writes_nothing(run: Run, sql: Sql, cp: str) -> None:
    await run([call(cp, "NotifyReport", part(1, -1, False))])
    assert await report(sql, cp) == []


async def test_monitoring_report(run: Run, sql: Sql, cp: str) -> None:
    def monitoring(seq_no: int, tbc: bool, monitor_id: int, value: float) -> dict[str, Any]:
        return {
            "requestId": 3,
            "seqNo": seq_no,
            "tbc": tbc,
            "generatedAt": AT,
            "monitor": [
                {
                    "component": {"name": "EVSE", "evse": {"id": 1}},
                    "variable": {"name": "Power"},
                    "variableMonitoring": [
                        {
                            "id": monitor_id,
                            "transaction": False,
                            "value": value,
                            "type": "UpperThreshold",
                            "severity": 4,
                        }
                    ],
                }
            ],
        }

    first = call(cp, "NotifyMonitoringReport", monitoring(0, True, 11, 80.5))
    await run([first, first, call(cp, "NotifyMonitoringReport", monitoring(1, False, 12, 90))])
    assert await report(sql, cp, "NotifyMonitoringReport") == [
        {"request_id": 3, "status": "Complete", "parts": 2, "last_seq_no": 1, "done": True}
    ]
    rows = await sql(
        "select m.monitor_id, m.value, m.type, m.severity, v.name from device_monitor m"
        " join device_variable v on v.id = m.variable_id where m.chargepoint_id = :cp"
        " order by m.monitor_id",
        cp=cp,
    )
    assert [(r["monitor_id"], float(r["value"]), r["name"]) for r in rows] == [
        (11, 80.5, "Power"),
        (12, 90.0, "Power"),
    ]


async def test_customer_information_is_assembled(run: Run, sql: Sql, cp: str) -> None:
    def info(seq_no: int, tbc: bool, data: str) -> dict[str, Any]:
        return {"requestId": 5, "seqNo": seq_no, "tbc": tbc, "generatedAt": AT, "data": data}

    await run(
        [
            call(cp, "NotifyCustomerInformation", info(1, False, "world")),
            call(cp, "NotifyCustomerInformation", info(0, True, "hello ")),
        ]
    )
    assert (await report(sql, cp, "NotifyCustomerInformation"))[0]["status"] == "Complete"
    [text] = await sql(
        "select string_agg(data, '' order by seq_no) as text from device_report_part"
        " where chargepoint_id = :cp and kind = 'NotifyCustomerInformation'",
        cp=cp,
    )
    assert text["text"] == "hello world"


async def test_display_messages_without_seq_no(run: Run, sql: Sql, cp: str) -> None:
    def messages(tbc: bool, *ids: int) -> dict[str, Any]:
        return {
            "requestId": 9,
            "tbc": tbc,
            "messageInfo": [
                {
                    "id": i,
                    "priority": "NormalCycle",
                    "state": "Idle",
                    "message": {"format": "UTF8", "content": f"message {i}", "language": "en"},
                    "transactionId": "tx-1" if i == 2 else None,
                }
                for i in ids
            ],
        }

    first = call(cp, "NotifyDisplayMessages", messages(True, 1))
    for info in first.payload["messageInfo"]:
        info.pop("transactionId")
    second = call(cp, "NotifyDisplayMessages", messages(False, 2))
    await run([first, first])
    await run([second])
    assert await report(sql, cp, "NotifyDisplayMessages") == [
        {"request_id": 9, "status": "Complete", "parts": 2, "last_seq_no": 1, "done": True}
    ]
    rows = await sql(
        "select message_id, priority, state, content, format, language, transaction_id"
        " from display_message where chargepoint_id = :cp order by message_id",
        cp=cp,
    )
    assert [(r["message_id"], r["content"], r["transaction_id"]) for r in rows] == [
        (1, "message 1", None),
        (2, "message 2", "tx-1"),
    ]


async def test_publish_firmware_status(run: Run, sql: Sql, cp: str) -> None:
    await run(
        [
            call(
                cp, "PublishFirmwareStatusNotification", {"status": "Downloading", "requestId": 4}
            ),
            call(
                cp,
                "PublishFirmwareStatusNotification",
                {"status": "Published", "location": ["http://cp/fw.bin"], "requestId": 4},
            ),
        ]
    )
    [row] = await sql(
        "select publish_firmware_status from chargepoint where chargepoint_id = :cp", cp=cp
    )
    assert row["publish_firmware_status"] == "Published"
