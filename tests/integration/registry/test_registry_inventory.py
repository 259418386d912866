"""A complete unfiltered inventory replaces the stored device model (device_model.sweep_report):
GetBaseReport FullInventory / ConfigurationInventory and GetMonitoringReport without filters,
with parts out of order, resent, and answers that come after the parts. The command effects
and the registry's Dispatcher run on the real database, as in production."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.commands import Result
from tests.factories import Run, Sql
from tests.integration.commands.conftest import add_chargepoint
from tests.integration.commands.test_command_effects import Runner
from tests.integration.commands.test_command_effects_v201 import ACCEPTED, Commands201

from .helpers import call as call16

pytestmark = pytest.mark.integration

call = partial(call16, ocpp_version="ocpp2.0.1")
AT = "2025-05-01T09:00:00Z"


@pytest.fixture
def effects(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Runner:
    return Runner(db_sessionmaker)


@pytest.fixture
def command(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Commands201:
    return Commands201(db_sessionmaker)


def item(component: str, variable: str, mutability: str = "ReadWrite") -> dict[str, Any]:
    return {
        "component": {"name": component},
        "variable": {"name": variable},
        "variableAttribute": [{"type": "Actual", "value": "1", "mutability": mutability}],
    }


def part(request_id: int, seq_no: int, tbc: bool, *data: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "generatedAt": AT,
        "seqNo": seq_no,
        "tbc": tbc,
        "reportData": list(data),
    }


def monitor(monitor_id: int, variable: str = "Power") -> dict[str, Any]:
    return {
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": variable},
        "variableMonitoring": [
            {
                "id": monitor_id,
                "transaction": False,
                "value": 10,
                "type": "UpperThreshold",
                "severity": 4,
            }
        ],
    }


def monitoring_part(request_id: int, seq_no: int, tbc: bool, *ids: int) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "generatedAt": AT,
        "seqNo": seq_no,
        "tbc": tbc,
        "monitor": [monitor(i) for i in ids],
    }


async def variables(sql: Sql, cp: str) -> set[str]:
    rows = await sql(
        "select c.name as component, v.name as variable from device_variable v"
        " join device_component c on c.id = v.component_id where v.chargepoint_id = :cp",
        cp=cp,
    )
    return {f"{r['component']}.{r['variable']}" for r in rows}


async def components(sql: Sql, cp: str) -> set[str]:
    rows = await sql("select name from device_component where chargepoint_id = :cp", cp=cp)
    return {r["name"] for r in rows}


async def flat_keys(sql: Sql, cp: str) -> set[str]:
    rows = await sql("select key from chargepoint_configuration where chargepoint_id = :cp", cp=cp)
    return {r["key"] for r in rows}


async def monitor_ids(sql: Sql, cp: str) -> set[int]:
    rows = await sql("select monitor_id from device_monitor where chargepoint_id = :cp", cp=cp)
    return {r["monitor_id"] for r in rows}


def base_report(request_id: int, base: str = "FullInventory") -> tuple[str, dict[str, Any]]:
    return "GetBaseReport", {"requestId": request_id, "reportBase": base}


def set_variable(component: str, variable: str) -> tuple[str, dict[str, Any], Result]:
    data = {"component": {"name": component}, "variable": {"name": variable}}
    return (
        "SetVariables",
        {"setVariableData": [{**data, "attributeValue": "7"}]},
        Result({"setVariableResult": [{**data, "attributeStatus": "Accepted"}]}),
    )


def set_monitor(variable: str, monitor_id: int) -> tuple[str, dict[str, Any], Result]:
    data = {
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": variable},
        "severity": 4,
        "type": "UpperThreshold",
    }
    return (
        "SetVariableMonitoring",
        {"setMonitoringData": [{**data, "value": 5}]},
        Result({"setMonitoringResult": [{**data, "id": monitor_id, "status": "Accepted"}]}),
    )


async def test_a_complete_full_inventory_replaces_the_variables(
    run: Run, effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await effects(await command(cp, *base_report(1), ACCEPTED))
    await run(
        [
            call(cp, "NotifyReport", part(1, 0, True, item("A", "x"), item("B", "y"))),
            call(cp, "NotifyReport", part(1, 1, False, item("C", "z", "ReadOnly"))),
        ]
    )
    await effects(await command(cp, *set_monitor("y", 31)))
    assert await variables(sql, cp) == {"A.x", "B.y", "C.z", "EVSE.y"}

    # The next FullInventory lists A.x and C.z only; its last part comes first.
    await effects(await command(cp, *base_report(2), ACCEPTED))
    await run([call(cp, "NotifyReport", part(2, 1, False, item("C", "z", "ReadOnly")))])
    # Not complete yet: nothing is forgotten.
    assert await variables(sql, cp) == {"A.x", "B.y", "C.z", "EVSE.y"}
    # Written while the report is being sent: true, though the report does not list it.
    await effects(await command(cp, *set_variable("D", "w")))
    first = call(cp, "NotifyReport", part(2, 0, True, item("A", "x")))
    await run([first])
    assert await variables(sql, cp) == {"A.x", "C.z", "D.w"}
    assert await components(sql, cp) == {"A", "C", "D"}
    # B.y's flat key went with it; its monitor too (the EVSE's variable was not listed).
    assert await flat_keys(sql, cp) == {"A.x", "C.z", "D.w"}
    assert await monitor_ids(sql, cp) == set()

    # A resend of a part of a complete report sweeps nothing again.
    await effects(await command(cp, *set_variable("E", "v")))
    await run([first])
    assert await variables(sql, cp) == {"A.x", "C.z", "D.w", "E.v"}


async def test_parts_before_the_answer_sweep_when_the_answer_comes(
    run: Run, effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await effects(await command(cp, *set_variable("Old", "gone")))
    await run([call(cp, "NotifyReport", part(5, 0, False, item("A", "x")))])
    assert await variables(sql, cp) == {"Old.gone", "A.x"}
    await effects(await command(cp, *base_report(5), ACCEPTED))
    assert await variables(sql, cp) == {"A.x"}


async def test_summary_inventory_and_get_report_forget_nothing(
    run: Run, effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await effects(await command(cp, *set_variable("Old", "kept")))
    await effects(await command(cp, *base_report(6, "SummaryInventory"), ACCEPTED))
    await run([call(cp, "NotifyReport", part(6, 0, False, item("A", "x")))])
    await effects(await command(cp, "GetReport", {"requestId": 7}, ACCEPTED))
    await run([call(cp, "NotifyReport", part(7, 0, False, item("B", "y")))])
    # A FullInventory the station refused forgets nothing either.
    await effects(
        await command(cp, *base_report(8), Result({"status": "NotSupported"})),
    )
    await run([call(cp, "NotifyReport", part(8, 0, False, item("C", "z")))])
    assert await variables(sql, cp) == {"Old.kept", "A.x", "B.y", "C.z"}


async def test_configuration_inventory_forgets_only_configurable_variables(
    run: Run, effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await run(
        [
            call(
                cp,
                "NotifyReport",
                part(
                    1,
                    0,
                    False,
                    item("A", "rw"),
                    item("A", "ro", "ReadOnly"),
                    item("A", "wo", "WriteOnly"),
                    item("A", "listed"),
                ),
            )
        ]
    )
    # Mutability unknown (a GetVariables / SetVariables only): not known to be listed.
    await effects(await command(cp, *set_variable("B", "unknown")))
    await effects(await command(cp, *base_report(2, "ConfigurationInventory"), ACCEPTED))
    await run([call(cp, "NotifyReport", part(2, 0, False, item("A", "listed")))])
    assert await variables(sql, cp) == {"A.ro", "A.listed", "B.unknown"}


async def test_an_unfiltered_monitoring_report_replaces_the_monitors(
    run: Run, effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await effects(await command(cp, *set_monitor("Power", 1)))
    await effects(await command(cp, *set_monitor("Current", 2)))
    # Filtered: lists some monitors only, forgets none.
    filtered = {"requestId": 1, "monitoringCriteria": ["DeltaMonitoring"]}
    await effects(await command(cp, "GetMonitoringReport", filtered, ACCEPTED))
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(1, 0, False, 3))])
    assert await monitor_ids(sql, cp) == {1, 2, 3}

    await effects(await command(cp, "GetMonitoringReport", {"requestId": 2}, ACCEPTED))
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(2, 1, False, 3))])
    assert await monitor_ids(sql, cp) == {1, 2, 3}
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(2, 0, True, 1))])
    assert await monitor_ids(sql, cp) == {1, 3}

    # Unfiltered and EmptyResultSet: the station has no monitor.
    await effects(
        await command(
            cp, "GetMonitoringReport", {"requestId": 3}, Result({"status": "EmptyResultSet"})
        )
    )
    assert await monitor_ids(sql, cp) == set()
