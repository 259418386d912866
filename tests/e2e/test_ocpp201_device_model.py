"""The OCPP 2.0.1 device model end to end: the registry's GetBaseReport after a station's
first Accepted boot (once: not after a reboot), a three-part NotifyReport with one part
resent (same message id) assembled and read back through `GET .../variables` with filters
and paging; set-variables updating the model; monitors and display messages stored and
listed. The `ocpp` library's v201 charge point over a real websocket, every service a
process."""

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
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.test_ocpp16_session import eventually
from tests.e2e.test_ocpp201_commands import Station, ok
from tests.patience import PATIENCE, wait_for

pytestmark = [pytest.mark.e2e]

GENERATED_AT = "2026-11-30T06:00:00.000Z"
CTRLR = {"name": "OCPPCommCtrlr"}
EVSE1 = {"name": "EVSE", "evse": {"id": 1}}
EVSE2 = {"name": "EVSE", "evse": {"id": 2}}
CONNECTOR11 = {"name": "Connector", "evse": {"id": 1, "connector_id": 1}}


def data(component: dict[str, Any], variable: str, value: str, **chars: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "component": component,
        "variable": {"name": variable},
        "variable_attribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
    }
    if chars:
        item["variable_characteristics"] = chars
    return item


PARTS = [
    [
        data(
            CTRLR,
            "HeartbeatInterval",
            "300",
            unit="s",
            data_type="integer",
            supports_monitoring=False,
        ),
        data(CTRLR, "OfflineThreshold", "60"),
    ],
    [
        data(
            EVSE1,
            "Power",
            "11000",
            unit="W",
            data_type="decimal",
            max_limit=22000,
            supports_monitoring=True,
        ),
        data(EVSE1, "AvailabilityState", "Available"),
        data(CONNECTOR11, "ConnectorType", "cType2"),
    ],
    [
        data(EVSE2, "Power", "22000"),
        data(EVSE2, "AvailabilityState", "Available"),
    ],
]


class DeviceStation(Station):
    """A station that answers GetBaseReport with a three-part NotifyReport (the first part
    sent twice under the same message id, as a station resends after a lost answer), and
    keeps monitors and display messages as a station would."""

    base_reports: list[int]
    monitors: dict[int, dict[str, Any]]
    messages: dict[int, dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_reports = []
        self.monitors = {}
        self.messages = {}

    async def _report(self, request_id: int) -> None:
        await asyncio.sleep(0.05)  # after our CALLRESULT went out

        def part(seq_no: int) -> Any:
            return call.NotifyReport(
                request_id=request_id,
                generated_at=GENERATED_AT,
                seq_no=seq_no,
                tbc=seq_no < len(PARTS) - 1,
                report_data=PARTS[seq_no],
            )

        first = f"report-{self.id}-{request_id}-0"
        await self.call(part(0), suppress=False, unique_id=first)
        await self.call(part(0), suppress=False, unique_id=first)  # resent
        await self.send(part(1))
        await self.send(part(2))

    @on(Action.get_base_report)
    async def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        self.base_reports.append(request_id)
        self._spawn(self._report(request_id))
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.set_variable_monitoring)
    async def on_set_variable_monitoring(
        self, set_monitoring_data: list[dict[str, Any]], **_: Any
    ) -> Any:
        results = []
        for d in set_monitoring_data:
            monitor_id = 100 + len(self.monitors)
            self.monitors[monitor_id] = d
            results.append(
                {
                    "id": monitor_id,
                    "status": "Accepted",
                    "type": d["type"],
                    "severity": d["severity"],
                    "component": d["component"],
                    "variable": d["variable"],
                }
            )
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    async def _monitoring_report(self, request_id: int) -> None:
        await asyncio.sleep(0.05)
        await self.send(
            call.NotifyMonitoringReport(
                request_id=request_id,
                seq_no=0,
                generated_at=GENERATED_AT,
                tbc=False,
                monitor=[
                    {
                        "component": d["component"],
                        "variable": d["variable"],
                        "variable_monitoring": [
                            {
                                "id": monitor_id,
                                "transaction": False,
                                "value": d["value"],
                                "type": d["type"],
                                "severity": d["severity"],
                            }
                        ],
                    }
                    for monitor_id, d in self.monitors.items()
                ],
            )
        )

    @on(Action.get_monitoring_report)
    async def on_get_monitoring_report(self, request_id: int, **_: Any) -> Any:
        self._spawn(self._monitoring_report(request_id))
        return call_result.GetMonitoringReport(status="Accepted")

    @on(Action.set_display_message)
    async def on_set_display_message(self, message: dict[str, Any], **_: Any) -> Any:
        self.messages[message["id"]] = message
        return call_result.SetDisplayMessage(status="Accepted")

    @on(Action.clear_display_message)
    async def on_clear_display_message(self, id: int, **_: Any) -> Any:  # OCPP field name
        found = self.messages.pop(id, None)
        return call_result.ClearDisplayMessage(status="Accepted" if found else "Unknown")

    async def _display_messages(self, request_id: int) -> None:
        await asyncio.sleep(0.05)
        await self.send(
            call.NotifyDisplayMessages(
                request_id=request_id, message_info=list(self.messages.values()), tbc=False
            )
        )

    @on(Action.get_display_messages)
    async def on_get_display_messages(self, request_id: int, **_: Any) -> Any:
        self._spawn(self._display_messages(request_id))
        return call_result.GetDisplayMessages(status="Accepted")


@asynccontextmanager
async def device_station(ws_url: str, cp_id: str) -> AsyncIterator[DeviceStation]:
    """A DeviceStation connected with ocpp2.0.1 (its message loop running)."""
    async with websockets.connect(
        f"{ws_url}/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        station = DeviceStation(cp_id, ws)
        task = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            task.cancel()


async def get(api: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await api.get(f"/api/v1/chargepoints/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def complete_report(api: httpx.AsyncClient, cp_id: str, kind: str) -> dict[str, Any]:
    """The station's report of `kind` once Complete (polled: the registry writes it)."""
    found: dict[str, Any] = {}

    async def check() -> bool:
        page = await get(api, f"{cp_id}/reports", kind=kind)
        found.update(next((r for r in page["items"] if r["status"] == "Complete"), {}))
        return bool(found)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not await check():
        assert loop.time() < deadline, f"no complete {kind} report"
        await asyncio.sleep(0.05)
    return found


async def test_first_boot_base_report_assembled_and_read_back(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    cp_id = "CP201-DM-1"
    async with device_station(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
        report = await complete_report(api, cp_id, "NotifyReport")
        assert cp.base_reports == [1]
        assert (report["request_id"], report["command"], report["command_status"]) == (
            1,
            "GetBaseReport",
            "Accepted",
        )
        assert (report["parts"], report["last_seq_no"], report["items"]) == (3, 2, 7)
        # Every variable once (the resent part stored once), paged.
        page = await get(api, f"{cp_id}/variables", limit=5)
        assert page["total"] == 7 and len(page["items"]) == 5
        rest = await get(api, f"{cp_id}/variables", limit=5, offset=5)
        names = [
            (v["component"]["name"], v["component"]["evse_id"], v["name"])
            for v in page["items"] + rest["items"]
        ]
        assert names == [
            ("Connector", 1, "ConnectorType"),
            ("EVSE", 1, "AvailabilityState"),
            ("EVSE", 1, "Power"),
            ("EVSE", 2, "AvailabilityState"),
            ("EVSE", 2, "Power"),
            ("OCPPCommCtrlr", None, "HeartbeatInterval"),
            ("OCPPCommCtrlr", None, "OfflineThreshold"),
        ]
        # Filters: component and variable (case-insensitive), EVSE.
        power = await get(api, f"{cp_id}/variables", component="evse", variable="Power")
        assert [
            (v["component"]["evse_id"], v["attributes"][0]["value"]) for v in power["items"]
        ] == [
            (1, "11000"),
            (2, "22000"),
        ]
        assert power["items"][0]["characteristics"]["unit"] == "W"
        evse2 = await get(api, f"{cp_id}/variables", evse=2)
        assert {v["name"] for v in evse2["items"]} == {"Power", "AvailabilityState"}

        # set-variables: the model follows the station's Accepted answer.
        await ok(
            api,
            cp_id,
            "set-variables",
            {
                "set_variable_data": [
                    {
                        "attribute_value": "60",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        )

        async def heartbeat_interval() -> str:
            page = await get(
                api, f"{cp_id}/variables", component="OCPPCommCtrlr", variable="HeartbeatInterval"
            )
            [variable] = page["items"]
            [actual] = [a for a in variable["attributes"] if a["type"] == "Actual"]
            assert variable["characteristics"]["unit"] == "s"
            return str(actual["value"])

        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE
        while await heartbeat_interval() != "60":
            assert loop.time() < deadline, "set-variables not applied to the device model"
            await asyncio.sleep(0.05)

        # A reboot: no second base report. Proof without waiting on time: the first boot of
        # another station, whose booted event is handled after this one's (one queue, in
        # order), gets its GetBaseReport.
        assert (await cp.boot()).status == "Accepted"
        async with device_station(stack.ws_url, "CP201-DM-2") as other:
            assert (await other.boot()).status == "Accepted"
            await wait_for(lambda: other.base_reports == [1])
        assert cp.base_reports == [1]
    await eventually(
        db_engine,
        "select count(*) from command_log where action = 'GetBaseReport'"
        " and requested_by = 'registry:first-boot'",
        2,
    )
    await eventually(
        db_engine,
        "select count(*) from chargepoint where base_report_requested_at is not null",
        2,
    )


async def test_monitors_and_display_messages(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    cp_id = "CP201-DM-3"
    async with device_station(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
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
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "Power"},
                    }
                ]
            },
        )
        assert answer["set_monitoring_result"][0]["id"] == 100
        await ok(api, cp_id, "get-monitoring-report", {"request_id": 41})
        await complete_report(api, cp_id, "NotifyMonitoringReport")
        monitors = await get(api, f"{cp_id}/monitors")
        assert [
            (m["id"], m["variable"], m["component"]["evse_id"], m["type"], float(m["value"]))
            for m in monitors["items"]
        ] == [(100, "Power", 1, "UpperThreshold", 80.0)]

        for message_id, content in ((1, "Welcome"), (2, "Out of order soon")):
            body = {
                "message": {
                    "id": message_id,
                    "priority": "NormalCycle",
                    "message": {"format": "UTF8", "content": content, "language": "en"},
                }
            }
            assert (await ok(api, cp_id, "set-display-message", body))["status"] == "Accepted"
        assert (await ok(api, cp_id, "clear-display-message", {"id": 2}))["status"] == "Accepted"
        await ok(api, cp_id, "get-display-messages", {"request_id": 42})
        report = await complete_report(api, cp_id, "NotifyDisplayMessages")
        assert (report["command"], report["items"]) == ("GetDisplayMessages", 1)
        messages = await get(api, f"{cp_id}/display-messages")
        assert [(m["id"], m["content"], m["language"]) for m in messages["items"]] == [
            (1, "Welcome", "en")
        ]


async def test_pending_station_is_configured_then_accepted(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    """B02: an operator keeps a new station Pending, reads its device model (GetBaseReport:
    its NotifyReport parts go through while Pending, B02.FR.09) and configures it
    (SetVariables), then accepts it; its first Accepted boot brings the registry's own
    FullInventory request, numbered after the operator's."""
    cp_id = "CP201-DM-PENDING"
    async with db_engine.begin() as conn:
        await conn.execute(
            text(
                "insert into chargepoint (chargepoint_id, registration_status)"
                " values (:cp, 'Pending')"
            ),
            {"cp": cp_id},
        )
    async with device_station(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Pending"
        assert (
            await ok(
                api, cp_id, "get-base-report", {"request_id": 5, "report_base": "FullInventory"}
            )
        )["status"] == "Accepted"
        report = await complete_report(api, cp_id, "NotifyReport")
        assert (report["request_id"], report["parts"]) == (5, 3)
        assert (await get(api, f"{cp_id}/variables"))["total"] == 7
        result = await ok(
            api,
            cp_id,
            "set-variables",
            {
                "set_variable_data": [
                    {
                        "attribute_value": "120",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "OfflineThreshold"},
                    }
                ]
            },
        )
        assert result["set_variable_result"][0]["attribute_status"] == "Accepted"
        await eventually(
            db_engine,
            "select a.value from device_variable_attribute a"
            " join device_variable v on v.id = a.variable_id"
            " where v.chargepoint_id = :cp and v.name = 'OfflineThreshold' and a.type = 'Actual'",
            "120",
            cp=cp_id,
        )
        # Pending: no first-boot report yet.
        assert cp.base_reports == [5]
        r = await api.patch(
            f"/api/v1/chargepoints/{cp_id}", json={"registration_status": "Accepted"}
        )
        assert r.status_code == 200, r.text
        assert (await cp.boot()).status == "Accepted"
        await wait_for(lambda: cp.base_reports == [5, 6])
