"""A complete FullInventory and an unfiltered monitoring report replace what the CSMS stored;
SetMonitoringBase / SetMonitoringLevel recorded (issue 12). The `ocpp` library's v201 charge
point over a real websocket through the gateway, every service a process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from bench.stack import Stack
from tests.e2e.test_ocpp201_commands import ok
from tests.e2e.test_ocpp201_device_model import GENERATED_AT, PARTS, DeviceStation, get
from tests.patience import wait_for_async

pytestmark = [pytest.mark.e2e]

EVSE1 = {"name": "EVSE", "evse": {"id": 1}}


class InventoryStation(DeviceStation):
    """A DeviceStation whose inventory can shrink, that sends a report's last part first,
    has a hard-wired monitor (id 7) and applies SetMonitoringBase / SetMonitoringLevel."""

    parts: list[list[dict[str, Any]]]
    custom: set[int]
    level: int | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parts = list(PARTS)
        self.monitors[7] = {
            "component": EVSE1,
            "variable": {"name": "Power"},
            "value": 25000,
            "type": "UpperThreshold",
            "severity": 2,
        }
        self.custom = set()
        self.level = None

    async def _report(self, request_id: int) -> None:
        await asyncio.sleep(0.05)  # after our CALLRESULT went out
        last = len(self.parts) - 1
        for seq_no in (last, *range(last)):  # the last part first
            await self.send(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=GENERATED_AT,
                    seq_no=seq_no,
                    tbc=seq_no < last,
                    report_data=self.parts[seq_no],
                )
            )

    @on(Action.set_variable_monitoring)
    async def on_set_variable_monitoring(
        self, set_monitoring_data: list[dict[str, Any]], **kwargs: Any
    ) -> Any:
        result = await super().on_set_variable_monitoring(set_monitoring_data, **kwargs)
        self.custom.update(r["id"] for r in result.set_monitoring_result)
        return result

    @on(Action.set_monitoring_base)
    async def on_set_monitoring_base(self, monitoring_base: str, **_: Any) -> Any:
        if monitoring_base == "HardWiredOnly":
            self.monitors = {7: self.monitors[7]}
        return call_result.SetMonitoringBase(status="Accepted")

    @on(Action.set_monitoring_level)
    async def on_set_monitoring_level(self, severity: int, **_: Any) -> Any:
        self.level = severity
        return call_result.SetMonitoringLevel(status="Accepted")

    async def alert(self, monitor_id: int, notification: str) -> None:
        await self.send(
            call.NotifyEvent(
                generated_at=GENERATED_AT,
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": GENERATED_AT,
                        "trigger": "Alerting",
                        "actual_value": "26000",
                        "component": EVSE1,
                        "variable": {"name": "Power"},
                        "variable_monitoring_id": monitor_id,
                        "event_notification_type": notification,
                    }
                ],
            )
        )


@asynccontextmanager
async def inventory_station(ws_url: str, cp_id: str) -> AsyncIterator[InventoryStation]:
    async with websockets.connect(
        f"{ws_url}/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        station = InventoryStation(cp_id, ws)
        task = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            task.cancel()


async def test_full_inventory_and_monitoring_base(
    stack: Stack, api: httpx.AsyncClient, clean_db: None
) -> None:
    cp_id = "CP201-INV-1"

    async def variables() -> list[tuple[Any, ...]]:
        page = await get(api, f"{cp_id}/variables", limit=100)
        return sorted((v["component"]["evse_id"] or 0, v["name"]) for v in page["items"])

    async def monitors() -> list[tuple[int, str | None]]:
        page = await get(api, f"{cp_id}/monitors")
        return [(m["id"], m["origin"]) for m in page["items"]]

    async def monitoring() -> tuple[Any, ...]:
        cp = await get(api, cp_id)
        stale = cp["monitors_stale_since"] is not None
        return cp["monitoring_level"], cp["monitoring_base"], stale

    async with inventory_station(stack.ws_url, cp_id) as cp:
        # The registry's FullInventory after the first boot: seven variables.
        assert (await cp.boot()).status == "Accepted"
        full = sorted(
            (d["component"].get("evse", {}).get("id", 0), d["variable"]["name"])
            for part in PARTS
            for d in part
        )
        await wait_for_async(variables, full)

        # EVSE 2 is gone: the next FullInventory (last part first) no longer lists it.
        cp.parts = PARTS[:2]
        body = {"request_id": 20, "report_base": "FullInventory"}
        assert (await ok(api, cp_id, "get-base-report", body))["status"] == "Accepted"
        await wait_for_async(variables, [v for v in full if v[0] != 2])

        # A custom monitor, the hard-wired one known from an unfiltered monitoring report,
        # its origin from the event it raises.
        answer = await ok(
            api,
            cp_id,
            "set-variable-monitoring",
            {
                "set_monitoring_data": [
                    {
                        "value": 80.0,
                        "type": "UpperThreshold",
                        "severity": 4,
                        "component": EVSE1,
                        "variable": {"name": "Power"},
                    }
                ]
            },
        )
        custom = answer["set_monitoring_result"][0]["id"]
        await ok(api, cp_id, "get-monitoring-report", {"request_id": 41})
        await wait_for_async(monitors, sorted([(7, None), (custom, "CustomMonitor")]))
        await cp.alert(7, "HardWiredMonitor")
        await wait_for_async(monitors, sorted([(7, "HardWiredMonitor"), (custom, "CustomMonitor")]))

        # HardWiredOnly: only monitor 7 stays; every origin known, so not stale.
        await ok(api, cp_id, "set-monitoring-base", {"monitoring_base": "HardWiredOnly"})
        await wait_for_async(monitors, [(7, "HardWiredMonitor")])
        await ok(api, cp_id, "set-monitoring-level", {"severity": 3})
        await wait_for_async(monitoring, (3, "HardWiredOnly", False))
        assert cp.level == 3

        # All: stale until an unfiltered report asked after it completes.
        await ok(api, cp_id, "set-monitoring-base", {"monitoring_base": "All"})
        await wait_for_async(monitoring, (3, "All", True))
        await ok(api, cp_id, "get-monitoring-report", {"request_id": 42})
        await wait_for_async(monitoring, (3, "All", False))
        assert await monitors() == [(7, "HardWiredMonitor")]
