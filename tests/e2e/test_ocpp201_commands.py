"""OCPP 2.0.1 commands end to end: REST -> api -> RabbitMQ -> gateway -> the `ocpp` library's
v201 charge point over a real websocket, and back; the effects in Postgres; the refusals of
the other version's commands (both directions) and of the gateway itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e import ocpp16_client
from tests.e2e.test_ocpp16_commands import CommandedClient, command
from tests.e2e.test_ocpp16_session import add_tag, eventually, rows

pytestmark = [pytest.mark.e2e]

NOT_FIRST_BOOT = "requested_by is distinct from 'registry:first-boot'"
"""The registry's own GetBaseReport after a 2.0.1 station's first Accepted boot
(test_ocpp201_device_model.py) is not one of the API's commands these tests count."""


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Station(ChargePoint):  # type: ignore[misc]
    """A 2.0.1 charging station that obeys, and records every command it receives."""

    received: list[tuple[str, dict[str, Any]]]
    background: set[asyncio.Task[Any]]
    seq_no: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received = []
        self.background = set()

    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)

    async def boot(self) -> Any:
        return await self.send(
            call.BootNotification(
                charging_station={"model": "Model-201", "vendor_name": "E2E-201"},
                reason="PowerUp",
            )
        )

    async def status(self, evse: int) -> Any:
        return await self.send(
            call.StatusNotification(
                timestamp=now(), connector_status="Available", evse_id=evse, connector_id=1
            )
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _event(self, event_type: str, trigger: str, info: dict[str, Any], **kw: Any) -> None:
        await asyncio.sleep(0.05)  # after our CALLRESULT went out
        seq_no, self.seq_no = self.seq_no, self.seq_no + 1
        await self.send(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=now(),
                trigger_reason=trigger,
                seq_no=seq_no,
                transaction_info=info,
                **kw,
            )
        )

    @on(Action.request_start_transaction)
    async def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, **kw: Any
    ) -> Any:
        self.received.append(
            ("RequestStartTransaction", {"remote_start_id": remote_start_id, **kw})
        )
        # F01/F02: the transaction it starts carries the remoteStartId.
        self._spawn(
            self._event(
                "Started",
                "RemoteStart",
                {"transaction_id": "e2e-remote-1", "remote_start_id": remote_start_id},
                evse={"id": kw.get("evse_id", 1), "connector_id": 1},
                id_token=id_token,
            )
        )
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    async def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        self.received.append(("RequestStopTransaction", {"transaction_id": transaction_id}))
        self._spawn(
            self._event(
                "Ended",
                "RemoteStop",
                {"transaction_id": transaction_id, "stopped_reason": "Remote"},
            )
        )
        return call_result.RequestStopTransaction(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, type: str, **kw: Any) -> Any:  # OCPP field name
        self.received.append(("Reset", {"type": type, **kw}))
        return call_result.Reset(status="Accepted")

    @on(Action.change_availability)
    async def on_change_availability(self, operational_status: str, **kw: Any) -> Any:
        self.received.append(
            ("ChangeAvailability", {"operational_status": operational_status, **kw})
        )
        return call_result.ChangeAvailability(status="Accepted")

    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.received.append(("GetVariables", {"get_variable_data": get_variable_data}))
        return call_result.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in get_variable_data
            ]
        )

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.received.append(("SetVariables", {"set_variable_data": set_variable_data}))
        return call_result.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in set_variable_data
            ]
        )

    @on(Action.reserve_now)
    async def on_reserve_now(self, id: int, **kw: Any) -> Any:  # OCPP field name
        self.received.append(("ReserveNow", {"id": id, **kw}))
        return call_result.ReserveNow(status="Accepted")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any]) -> Any:
        self.received.append(("SetChargingProfile", {"evse_id": evse_id}))
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        if requested_message == "Heartbeat":
            self._spawn(self.send(call.Heartbeat()))
        return call_result.TriggerMessage(status="Accepted")


@asynccontextmanager
async def connected(ws_url: str, cp_id: str) -> AsyncIterator[Station]:
    async with websockets.connect(
        f"{ws_url}/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        station = Station(cp_id, ws)
        task = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            task.cancel()


async def ok(api: httpx.AsyncClient, cp_id: str, name: str, body: dict[str, Any]) -> Any:
    resp = await command(api, cp_id, name, body)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_201_commands_reach_the_station_and_record_their_effects(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    cp_id = "CP201-CMD-1"
    async with connected(stack.ws_url, cp_id) as cp:
        await cp.boot()
        await cp.status(1)
        await cp.status(2)
        assert await ok(api, cp_id, "reset", {"type": "OnIdle", "evse_id": 2}) == {
            "status": "Accepted"
        }
        await ok(
            api,
            cp_id,
            "change-availability",
            {"operational_status": "Inoperative", "evse": {"id": 2}},
        )
        got = await ok(
            api,
            cp_id,
            "get-variables",
            {
                "get_variable_data": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        )
        assert got == {
            "get_variable_result": [
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        }
        await ok(
            api,
            cp_id,
            "set-variables",
            {
                "set_variable_data": [
                    {
                        "attribute_value": "15",
                        "component": {"name": "SampledDataCtrlr"},
                        "variable": {"name": "TxUpdatedInterval"},
                    }
                ]
            },
        )
        expiry = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        await ok(
            api,
            cp_id,
            "reserve-now",
            {
                "id": 4201,
                "expiry_date_time": expiry.isoformat(),
                "id_token": {"id_token": "RES-201", "type": "ISO14443"},
                "evse_id": 1,
            },
        )
        await ok(
            api,
            cp_id,
            "set-charging-profile",
            {
                "evse_id": 1,
                "charging_profile": {
                    "id": 9201,
                    "stack_level": 0,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "charging_schedule": [
                        {
                            "id": 1,
                            "start_schedule": "2030-01-01T00:00:00Z",
                            "charging_rate_unit": "A",
                            "charging_schedule_period": [{"start_period": 0, "limit": 16}],
                        }
                    ],
                },
            },
        )
        # H04: the station ends the reservation itself (once the CSMS recorded it: the
        # command's effect and the station's messages travel on different queues).
        await eventually(
            db_engine,
            f"select status from reservation where chargepoint_id='{cp_id}'"
            " and reservation_id=4201",
            "Active",
        )
        await cp.send(
            call.ReservationStatusUpdate(reservation_id=4201, reservation_update_status="Expired")
        )
        # A report that follows a command (K09 after GetChargingProfiles) is answered.
        await cp.send(
            call.ReportChargingProfiles(
                request_id=1,
                charging_limit_source="CSO",
                evse_id=1,
                charging_profile=[
                    {
                        "id": 9201,
                        "stack_level": 0,
                        "charging_profile_purpose": "TxDefaultProfile",
                        "charging_profile_kind": "Absolute",
                        "charging_schedule": [
                            {
                                "id": 1,
                                "charging_rate_unit": "A",
                                "charging_schedule_period": [{"start_period": 0, "limit": 16}],
                            }
                        ],
                    }
                ],
            )
        )
        await ok(api, cp_id, "trigger-message", {"requested_message": "Heartbeat"})
        # What the station got is the 2.0.1 message the API built (the library validated it
        # against its own schemas before the handler ran).
        assert [action for action, _ in cp.received] == [
            "Reset",
            "ChangeAvailability",
            "GetVariables",
            "SetVariables",
            "ReserveNow",
            "SetChargingProfile",
            "TriggerMessage",
        ]
        assert cp.received[0][1] == {"type": "OnIdle", "evse_id": 2}
        # The triggered Heartbeat reached the CSMS.
        await eventually(
            db_engine, f"select count(*) from heartbeat where chargepoint_id='{cp_id}'", 1
        )
    where = f"chargepoint_id='{cp_id}'"
    await eventually(
        db_engine,
        f"select availability_status from connector where {where} and connectorid=2",
        "Inoperative",
    )
    await eventually(
        db_engine,
        f"select value from chargepoint_configuration where {where}"
        " and key='OCPPCommCtrlr.HeartbeatInterval'",
        "300",
    )
    await eventually(
        db_engine,
        f"select value from chargepoint_configuration where {where}"
        " and key='SampledDataCtrlr.TxUpdatedInterval'",
        "15",
    )
    await eventually(
        db_engine,
        f"select id_tag || ':' || connectorid || ':' || status from reservation"
        f" where {where} and reservation_id=4201",
        "RES-201:1:Expired",
    )
    await eventually(
        db_engine,
        "select status from charging_profile_installation"
        f" where {where} and chargingprofile_id=9201",
        "Installed",
    )
    await eventually(
        db_engine,
        f"select count(*) from ocpp_message where {where} and action='ReportChargingProfiles'"
        " and message_type=2",
        1,
    )
    logged = await rows(
        db_engine,
        f"select action, ocpp_version, outcome from command_log where {where}"
        f" and {NOT_FIRST_BOOT} order by created_at",
    )
    assert {(r["ocpp_version"], r["outcome"]) for r in logged} == {("ocpp2.0.1", "result")}
    assert len(logged) == 7


async def test_request_start_and_stop_make_a_transaction_linked_to_its_command(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    cp_id = "CP201-CMD-TX"
    await add_tag(db_engine, "REMOTE-201")
    async with connected(stack.ws_url, cp_id) as cp:
        await cp.boot()
        await cp.status(1)
        await ok(
            api,
            cp_id,
            "request-start-transaction",
            {
                "id_token": {"id_token": "REMOTE-201", "type": "ISO14443"},
                "remote_start_id": 31,
                "evse_id": 1,
            },
        )
        await eventually(
            db_engine,
            "select status || ':' || remote_start_id || ':' || id_tag from transaction"
            f" where chargepoint_id='{cp_id}'",
            "Active:31:REMOTE-201",
        )
        # The operator finds the transaction their command started.
        found = await api.get("/api/v1/transactions", params={"remote_start_id": 31})
        assert found.status_code == 200, found.text
        [tx] = found.json()["items"]
        assert (tx["remote_transaction_id"], tx["remote_start_id"]) == ("e2e-remote-1", 31)
        await ok(api, cp_id, "request-stop-transaction", {"transaction_id": "e2e-remote-1"})
        await eventually(
            db_engine,
            "select status || ':' || reason_stopped from transaction"
            f" where chargepoint_id='{cp_id}'",
            "Completed:Remote",
        )
        assert [a for a, _ in cp.received] == ["RequestStartTransaction", "RequestStopTransaction"]


async def refused(
    api: httpx.AsyncClient, cp_id: str, name: str, body: dict[str, Any], equivalent: str | None
) -> dict[str, Any]:
    resp = await command(api, cp_id, name, body)
    assert resp.status_code == 409, resp.text
    error: dict[str, Any] = resp.json()["error"]
    assert error["code"] == "unsupported_for_version", error
    if equivalent is not None:
        assert equivalent in error["message"], error
    return error


async def test_wrong_version_commands_are_refused_before_sending(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    async with (
        connected(stack.ws_url, "CP201-WRONG") as station,
        ocpp16_client.connected(stack.ws_url, "CP16-WRONG", CommandedClient) as cp16,
    ):
        await station.boot()
        await cp16.boot()
        # A 1.6 command to a 2.0.1 station: refused, naming the 2.0.1 equivalent.
        error = await refused(
            api,
            "CP201-WRONG",
            "remote-start-transaction",
            {"id_tag": "T", "connector_id": 1},
            "request-start-transaction",
        )
        assert error["details"] == [
            {
                "field": "command",
                "message": "request-start-transaction",
                "type": "equivalent_command",
            }
        ]
        await refused(api, "CP201-WRONG", "get-configuration", {}, "get-variables")
        await refused(
            api, "CP201-WRONG", "change-configuration", {"key": "k", "value": "v"}, "set-variables"
        )
        # A path both versions have, with the other version's body.
        await refused(api, "CP201-WRONG", "reset", {"type": "Soft"}, None)
        # A 2.0.1 command to a 1.6 charge point, and a 2.0.1 body on a shared path.
        await refused(
            api,
            "CP16-WRONG",
            "request-start-transaction",
            {"id_token": {"id_token": "T", "type": "Central"}, "remote_start_id": 1},
            "remote-start-transaction",
        )
        await refused(
            api,
            "CP16-WRONG",
            "request-stop-transaction",
            {"transaction_id": "x"},
            "remote-stop-transaction",
        )
        await refused(api, "CP16-WRONG", "reset", {"type": "Immediate"}, None)
        error = await refused(
            api,
            "CP16-WRONG",
            "get-base-report",
            {"request_id": 1, "report_base": "FullInventory"},
            None,
        )
        assert "no equivalent" in error["message"]
        # Nothing was sent, nothing was logged; the right version's commands still work.
        assert station.received == []
        assert (await ok(api, "CP201-WRONG", "reset", {"type": "Immediate"}))[
            "status"
        ] == "Accepted"
        assert (await ok(api, "CP16-WRONG", "reset", {"type": "Soft"})) == {"status": "Accepted"}
        assert [a for a, _ in station.received] == ["Reset"]
    logged = await rows(
        db_engine,
        f"select chargepoint_id, action, ocpp_version from command_log where {NOT_FIRST_BOOT}"
        " order by created_at",
    )
    assert [(r["chargepoint_id"], r["action"], r["ocpp_version"]) for r in logged] == [
        ("CP201-WRONG", "Reset", "ocpp2.0.1"),
        ("CP16-WRONG", "Reset", "ocpp1.6"),
    ]


async def test_gateway_refusal_is_not_reported_as_the_chargepoint_answer(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    """The API routes by the stored version; if the socket speaks another one (the station
    reconnected meanwhile), the gateway refuses the command itself: a 409 from the gateway,
    outcome `refused`, never a 502 "the charge point answered"."""
    async with ocpp16_client.connected(stack.ws_url, "CP-STALE") as cp:
        await cp.boot()
        await eventually(
            db_engine,
            "select ocpp_version from chargepoint where chargepoint_id='CP-STALE'",
            "ocpp1.6",
        )
        async with db_engine.begin() as conn:
            await conn.execute(
                text(
                    "update chargepoint set ocpp_version='ocpp2.0.1'"
                    " where chargepoint_id='CP-STALE'"
                )
            )
        resp = await command(api, "CP-STALE", "reset", {"type": "Immediate"})
        assert resp.status_code == 409, resp.text
        error = resp.json()["error"]
        assert error["code"] == "unsupported_for_version"
        # Sent, the 1.6 client (no 2.0.1 Reset handler) would have answered a CALLERROR (502).
        assert "the gateway refused Reset" in error["message"] and "ocpp1.6" in error["message"]
        command_id = resp.headers["X-Command-Id"]
    [row] = await rows(
        db_engine,
        "select outcome, error_code, ocpp_version from command_log where id = cast(:id as uuid)",
        id=command_id,
    )
    assert row == {
        "outcome": "refused",
        "error_code": "UnsupportedForVersion",
        "ocpp_version": "ocpp2.0.1",
    }
