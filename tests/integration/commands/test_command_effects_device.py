"""Effects of the OCPP 2.0.1 device-model commands on the device model, the report rows and
the display messages (services/registry/command_effects_device.py), applied by the
registry's effect route on Postgres."""

from __future__ import annotations

from typing import Any

import pytest

from shared.commands import Result
from tests.factories import Sql

from .conftest import add_chargepoint
from .test_command_effects import Runner
from .test_command_effects_v201 import ACCEPTED, Commands201, command, run

__all__ = ["command", "run"]  # the fixtures of the 2.0.1 effect tests

pytestmark = pytest.mark.integration


def cv(component: str, variable: str, **extra: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}, **extra}


async def attributes(sql: Sql, cp: str) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    rows = await sql(
        "select c.name as component, v.name as variable, a.type, a.value, a.reboot_required"
        " from device_variable_attribute a join device_variable v on v.id = a.variable_id"
        " join device_component c on c.id = v.component_id where c.chargepoint_id = :cp",
        cp=cp,
    )
    return {
        (r["component"], r["variable"], r["type"]): (r["value"], r["reboot_required"]) for r in rows
    }


async def reports(sql: Sql, cp: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    rows = await sql(
        "select kind, request_id, command, command_status, status from device_report"
        " where chargepoint_id = :cp",
        cp=cp,
    )
    return {
        (r["kind"], r["request_id"]): (r["command"], r["command_status"], r["status"]) for r in rows
    }


async def test_set_and_get_variables_update_the_model(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    request = {
        "setVariableData": [
            cv("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="120"),
            cv("TxCtrlr", "EVConnectionTimeOut", attributeValue="60"),
            cv("AuthCtrlr", "Enabled", attributeValue="false"),
            cv(
                "SampledDataCtrlr", "TxUpdatedInterval", attributeValue="30", attributeType="Target"
            ),
        ]
    }
    response = {
        "setVariableResult": [
            cv("OCPPCommCtrlr", "HeartbeatInterval", attributeStatus="Accepted"),
            cv("txctrlr", "evconnectiontimeout", attributeStatus="RebootRequired"),
            cv("AuthCtrlr", "Enabled", attributeStatus="Rejected"),
            cv(
                "SampledDataCtrlr",
                "TxUpdatedInterval",
                attributeStatus="Accepted",
                attributeType="Target",
            ),
        ]
    }
    await run(await command(cp, "SetVariables", request, Result(response)))
    assert await attributes(sql, cp) == {
        ("OCPPCommCtrlr", "HeartbeatInterval", "Actual"): ("120", False),
        ("TxCtrlr", "EVConnectionTimeOut", "Actual"): ("60", True),
        ("SampledDataCtrlr", "TxUpdatedInterval", "Target"): ("30", False),
    }
    get = {
        "getVariableResult": [
            cv(
                "OCPPCommCtrlr",
                "HeartbeatInterval",
                attributeStatus="Accepted",
                attributeValue="300",
            ),
            cv("TxCtrlr", "EVConnectionTimeOut", attributeStatus="UnknownVariable"),
            cv("ClockCtrlr", "TimeSource", attributeStatus="Accepted", attributeValue="NTP"),
        ]
    }
    await run(
        await command(
            cp,
            "GetVariables",
            {"getVariableData": [cv("OCPPCommCtrlr", "HeartbeatInterval")]},
            Result(get),
        )
    )
    assert await attributes(sql, cp) == {
        ("OCPPCommCtrlr", "HeartbeatInterval", "Actual"): ("300", False),
        ("SampledDataCtrlr", "TxUpdatedInterval", "Target"): ("30", False),
        ("ClockCtrlr", "TimeSource", "Actual"): ("NTP", False),
    }


async def test_report_commands_make_their_report_rows(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await run(
        await command(
            cp, "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}, ACCEPTED
        ),
        await command(
            cp,
            "GetReport",
            {"requestId": 2, "componentCriteria": ["Problem"]},
            Result({"status": "EmptyResultSet"}),
        ),
        await command(cp, "GetMonitoringReport", {"requestId": 3}, ACCEPTED),
        await command(
            cp,
            "CustomerInformation",
            {"requestId": 4, "report": True, "clear": False, "customerIdentifier": "c-1"},
            ACCEPTED,
        ),
        await command(cp, "GetDisplayMessages", {"requestId": 5}, ACCEPTED),
    )
    assert await reports(sql, cp) == {
        ("NotifyReport", 1): ("GetBaseReport", "Accepted", "Requested"),
        ("NotifyReport", 2): ("GetReport", "EmptyResultSet", "Refused"),
        ("NotifyMonitoringReport", 3): ("GetMonitoringReport", "Accepted", "Requested"),
        ("NotifyCustomerInformation", 4): ("CustomerInformation", "Accepted", "Requested"),
        ("NotifyDisplayMessages", 5): ("GetDisplayMessages", "Accepted", "Requested"),
    }


def message(message_id: int, content: str) -> dict[str, Any]:
    return {
        "message": {
            "id": message_id,
            "priority": "InFront",
            "state": "Charging",
            "message": {"format": "UTF8", "content": content},
        }
    }


async def display_messages(sql: Sql, cp: str) -> dict[int, str]:
    rows = await sql(
        "select message_id, content from display_message where chargepoint_id = :cp", cp=cp
    )
    return {r["message_id"]: r["content"] for r in rows}


async def test_display_messages_follow_set_and_clear(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await run(
        await command(cp, "SetDisplayMessage", message(1, "Welcome"), ACCEPTED),
        await command(cp, "SetDisplayMessage", message(2, "Closed"), ACCEPTED),
        await command(
            cp, "SetDisplayMessage", message(3, "Nope"), Result({"status": "NotSupportedState"})
        ),
        await command(cp, "SetDisplayMessage", message(1, "Welcome back"), ACCEPTED),
    )
    assert await display_messages(sql, cp) == {1: "Welcome back", 2: "Closed"}
    await run(
        await command(cp, "ClearDisplayMessage", {"id": 2}, ACCEPTED),
        await command(cp, "ClearDisplayMessage", {"id": 1}, Result({"status": "Rejected"})),
    )
    assert await display_messages(sql, cp) == {1: "Welcome back"}
    # Unknown to an unfiltered GetDisplayMessages: the station shows nothing.
    await run(
        await command(cp, "GetDisplayMessages", {"requestId": 8}, Result({"status": "Unknown"}))
    )
    assert await display_messages(sql, cp) == {}


async def test_monitors_follow_set_and_clear(
    run: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    data = {
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "Power"},
        "severity": 4,
    }
    request = {
        "setMonitoringData": [
            {**data, "value": 80.0, "type": "UpperThreshold"},
            {**data, "value": 5.0, "type": "LowerThreshold", "transaction": True},
            {**data, "value": 1.0, "type": "Delta"},
        ]
    }
    response = {
        "setMonitoringResult": [
            {**data, "id": 21, "status": "Accepted", "type": "UpperThreshold"},
            {**data, "id": 22, "status": "Accepted", "type": "LowerThreshold"},
            {**data, "status": "Rejected", "type": "Delta"},
        ]
    }
    await run(await command(cp, "SetVariableMonitoring", request, Result(response)))

    async def monitors() -> dict[int, tuple[Any, ...]]:
        rows = await sql(
            "select monitor_id, value, type, transaction from device_monitor"
            " where chargepoint_id = :cp",
            cp=cp,
        )
        return {r["monitor_id"]: (float(r["value"]), r["type"], r["transaction"]) for r in rows}

    assert await monitors() == {
        21: (80.0, "UpperThreshold", False),
        22: (5.0, "LowerThreshold", True),
    }
    clear = {
        "clearMonitoringResult": [
            {"id": 21, "status": "Accepted"},
            {"id": 22, "status": "Rejected"},
            {"id": 99, "status": "NotFound"},
        ]
    }
    await run(await command(cp, "ClearVariableMonitoring", {"id": [21, 22, 99]}, Result(clear)))
    assert await monitors() == {22: (5.0, "LowerThreshold", True)}
