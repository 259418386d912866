"""2.0.1 monitoring base and level (N03/N04): monitor origins from SetVariableMonitoring and
NotifyEvent, SetMonitoringBase forgetting the monitors it removes and marking the rest
stale until a complete unfiltered GetMonitoringReport, SetMonitoringLevel stored on the
station. The command effects and the registry's Dispatcher run on the real database."""

from __future__ import annotations

from typing import Any

import pytest

from shared.commands import Result
from tests.factories import Run, Sql
from tests.integration.commands.conftest import add_chargepoint
from tests.integration.commands.test_command_effects import Runner
from tests.integration.commands.test_command_effects_v201 import ACCEPTED, Commands201

from .test_registry_inventory import (
    call,
    command,
    effects,
    monitoring_part,
    set_monitor,
)

pytestmark = pytest.mark.integration

__all__ = ["command", "effects"]  # fixtures


def event(event_id: int, notification: str, monitor_id: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "eventId": event_id,
        "timestamp": "2025-05-01T09:00:00Z",
        "trigger": "Alerting",
        "actualValue": "99",
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "Power"},
        "eventNotificationType": notification,
    }
    if monitor_id is not None:
        data["variableMonitoringId"] = monitor_id
    return data


async def origins(sql: Sql, cp: str) -> dict[int, str | None]:
    rows = await sql(
        "select monitor_id, origin from device_monitor where chargepoint_id = :cp", cp=cp
    )
    return {r["monitor_id"]: r["origin"] for r in rows}


async def station(sql: Sql, cp: str) -> tuple[Any, ...]:
    [row] = await sql(
        "select monitoring_level, monitoring_base, monitors_stale_since is not null as stale"
        " from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    return row["monitoring_level"], row["monitoring_base"], row["stale"]


def base(value: str) -> tuple[str, dict[str, Any]]:
    return "SetMonitoringBase", {"monitoringBase": value}


async def test_monitoring_base_forgets_what_it_removes(
    run: Run, effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await effects(await command(cp, *set_monitor("Power", 41)))
    # A report the CSMS did not ask for (no GetMonitoringReport): it replaces nothing.
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(9, 0, False, 42, 43, 44))])
    await run(
        [
            call(
                cp,
                "NotifyEvent",
                {
                    "generatedAt": "2025-05-01T09:00:00Z",
                    "seqNo": 0,
                    "eventData": [
                        event(1, "PreconfiguredMonitor", 42),
                        event(2, "HardWiredMonitor", 43),
                        event(3, "CustomMonitor", 99),  # not stored: not remembered
                        event(4, "HardWiredNotification"),
                    ],
                },
            )
        ]
    )
    assert await origins(sql, cp) == {
        41: "CustomMonitor",
        42: "PreconfiguredMonitor",
        43: "HardWiredMonitor",
        44: None,
    }
    # A report listing 42 again keeps its known origin.
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(10, 0, False, 42))])
    assert (await origins(sql, cp))[42] == "PreconfiguredMonitor"

    await effects(await command(cp, *base("HardWiredOnly"), Result({"status": "Rejected"})))
    assert set(await origins(sql, cp)) == {41, 42, 43, 44}
    assert await station(sql, cp) == (None, None, False)

    # FactoryDefault: custom monitors go; the pre-configured set is restored: stale.
    await effects(await command(cp, *base("FactoryDefault"), ACCEPTED))
    assert set(await origins(sql, cp)) == {42, 43, 44}
    assert await station(sql, cp) == (None, "FactoryDefault", True)

    # A complete unfiltered report asked after it: the stored list is the station's again.
    await effects(await command(cp, "GetMonitoringReport", {"requestId": 11}, ACCEPTED))
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(11, 0, False, 42, 43))])
    assert set(await origins(sql, cp)) == {42, 43}
    assert await station(sql, cp) == (None, "FactoryDefault", False)

    # HardWiredOnly: every monitor not hard-wired goes; all origins known: not stale.
    await effects(await command(cp, *base("HardWiredOnly"), ACCEPTED))
    assert await origins(sql, cp) == {43: "HardWiredMonitor"}
    assert await station(sql, cp) == (None, "HardWiredOnly", False)

    # All: the pre-configured monitors come back, which the CSMS cannot list: stale.
    await effects(await command(cp, *base("All"), ACCEPTED))
    assert await origins(sql, cp) == {43: "HardWiredMonitor"}
    assert await station(sql, cp) == (None, "All", True)


async def test_hard_wired_only_with_unknown_origins_is_stale(
    run: Run, effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await effects(await command(cp, *set_monitor("Power", 51)))
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(1, 0, False, 52))])
    # A report asked before the change completes after it.
    await effects(await command(cp, "GetMonitoringReport", {"requestId": 3}, ACCEPTED))
    await effects(await command(cp, *base("HardWiredOnly"), ACCEPTED))
    # 52 may be hard-wired: kept, and the list is marked for a new report.
    assert await origins(sql, cp) == {52: None}
    assert await station(sql, cp) == (None, "HardWiredOnly", True)
    await run([call(cp, "NotifyMonitoringReport", monitoring_part(3, 0, False, 52))])
    assert await origins(sql, cp) == {52: None}
    # It may list what the station had before the change: the list stays stale.
    assert await station(sql, cp) == (None, "HardWiredOnly", True)
    # Unfiltered and answered EmptyResultSet after the change: no monitor, not stale.
    await effects(
        await command(
            cp, "GetMonitoringReport", {"requestId": 2}, Result({"status": "EmptyResultSet"})
        )
    )
    assert await origins(sql, cp) == {}
    assert await station(sql, cp) == (None, "HardWiredOnly", False)


async def test_monitoring_level_is_stored_when_accepted(
    effects: Runner, command: Commands201, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await effects(await command(cp, "SetMonitoringLevel", {"severity": 3}, ACCEPTED))
    assert await station(sql, cp) == (3, None, False)
    await effects(
        await command(cp, "SetMonitoringLevel", {"severity": 7}, Result({"status": "Rejected"}))
    )
    assert await station(sql, cp) == (3, None, False)
