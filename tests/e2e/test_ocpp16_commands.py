"""OCPP 1.6 commands end to end: REST -> api -> RabbitMQ -> gateway -> charge point and back."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.ocpp16_client import Client, connected
from tests.e2e.test_ocpp16_session import add_tag, eventually
from tests.patience import PATIENCE

pytestmark = [pytest.mark.e2e]


class CommandedClient(Client):
    """A charge point that obeys: remote start/stop really start and stop a transaction."""

    tx_id: int | None = None
    background: set[asyncio.Task[Any]]

    @on(Action.reset)
    async def on_reset(self, type: str) -> Any:  # OCPP field name
        return call_result.Reset(status="Accepted")

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int, type: str) -> Any:
        return call_result.ChangeAvailability(status="Accepted")

    @on(Action.get_configuration)
    async def on_get_configuration(self, **_: Any) -> Any:
        return call_result.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=[],
        )

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, **_: Any) -> Any:
        self._spawn(self._begin(id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> Any:
        self._spawn(self.stop_tx(transaction_id, 5000, reason="Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    def _spawn(self, coro: Any) -> None:
        if not hasattr(self, "background"):
            self.background = set()
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _begin(self, id_tag: str) -> None:
        await asyncio.sleep(0.05)  # after our CALLRESULT went out
        self.tx_id = (await self.start_tx(id_tag)).transaction_id


async def command(
    api: httpx.AsyncClient,
    cp_id: str,
    name: str,
    body: dict[str, Any],
    timeout: float | None = None,
) -> httpx.Response:
    """POST a command; wait out the moments the api needs to connect its bus (503 until then)."""
    params = {"timeout": timeout} if timeout is not None else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        resp = await api.post(
            f"/api/v1/chargepoints/{cp_id}/commands/{name}", json=body, params=params
        )
        if resp.status_code != 503 or loop.time() > deadline:
            return resp
        await asyncio.sleep(0.1)


async def answered_transaction(cp: CommandedClient) -> int:
    """The transaction id the charge point got in its StartTransaction answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while cp.tx_id is None:
        assert loop.time() < deadline, "the StartTransaction answer never reached the charge point"
        await asyncio.sleep(0.05)
    return cp.tx_id


async def test_commands_reach_the_chargepoint_and_come_back(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    async with connected(stack.ws_url, "CP-CMD-1", CommandedClient) as cp:
        await cp.boot()
        await cp.status(1)
        resp = await command(api, "CP-CMD-1", "reset", {"type": "Soft"})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"status": "Accepted"}
        resp = await command(api, "CP-CMD-1", "get-configuration", {})
        assert resp.status_code == 200, resp.text
        assert resp.json()["configuration_key"][0]["key"] == "HeartbeatInterval"
        resp = await command(
            api, "CP-CMD-1", "change-availability", {"connector_id": 1, "type": "Inoperative"}
        )
        assert resp.status_code == 200, resp.text
    await eventually(
        db_engine,
        "select availability_status from connector where chargepoint_id='CP-CMD-1' "
        "and connectorid=1",
        "Inoperative",
    )
    await eventually(
        db_engine,
        "select value from chargepoint_configuration where chargepoint_id='CP-CMD-1' "
        "and key='HeartbeatInterval'",
        "300",
    )
    await eventually(
        db_engine, "select count(*) from command_log where chargepoint_id='CP-CMD-1'", 3
    )


async def test_offline_chargepoint_answers_409_at_once(
    stack: Stack, api: httpx.AsyncClient, clean_db: None
) -> None:
    async with connected(stack.ws_url, "CP-CMD-GONE") as cp:
        await cp.boot()
    # "At once": not connected is known from the unroutable publish, never by waiting out the
    # command timeout (which would answer 504, not 409).
    resp = await command(api, "CP-CMD-GONE", "reset", {"type": "Hard"})
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["code"] == "not_connected"


async def test_remote_start_and_stop_make_a_transaction(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, clean_db: None
) -> None:
    await add_tag(db_engine, "REMOTE-1")
    async with connected(stack.ws_url, "CP-CMD-TX", CommandedClient) as cp:
        await cp.boot()
        resp = await command(
            api, "CP-CMD-TX", "remote-start-transaction", {"id_tag": "REMOTE-1", "connector_id": 1}
        )
        assert resp.status_code == 200, resp.text
        await eventually(
            db_engine, "select status from transaction where id_tag='REMOTE-1'", "Active"
        )
        # The row commits before the answer travels back to the charge point.
        tx_id = await answered_transaction(cp)
        resp = await command(api, "CP-CMD-TX", "remote-stop-transaction", {"transaction_id": tx_id})
        assert resp.status_code == 200, resp.text
        await eventually(
            db_engine, "select status from transaction where id_tag='REMOTE-1'", "Completed"
        )


class SilentClient(Client):
    """A charge point that never answers a Reset (its answer is lost)."""

    @on(Action.reset)
    async def on_reset(self, type: str) -> Any:
        await asyncio.sleep(3600)
        return call_result.Reset(status="Accepted")


async def test_timeout_is_answered_504_when_it_expires(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    """The charge point never answers; the request's own short timeout expires: 504."""
    async with connected(stack.ws_url, "CP-CMD-SILENT", SilentClient) as cp:
        await cp.boot()
        resp = await command(api, "CP-CMD-SILENT", "reset", {"type": "Soft"}, timeout=1)
    assert resp.status_code == 504, resp.text
    assert resp.json()["error"]["code"] == "timeout"


async def test_two_gateway_processes_route_to_the_socket(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    """Charge points spread over two gateways; one moves to the other and is reached there."""
    port = await stack.start_gateway("gateway-b")
    other = f"ws://127.0.0.1:{port}/ocpp"
    try:
        async with (
            connected(stack.ws_url, "CP-NODE-A", CommandedClient) as a,
            connected(other, "CP-NODE-B", CommandedClient) as b,
        ):
            await a.boot()
            await b.boot()
            for cp_id in ("CP-NODE-A", "CP-NODE-B"):
                resp = await command(api, cp_id, "reset", {"type": "Soft"})
                assert resp.status_code == 200, resp.text
            # CP-NODE-A reconnects to the other process: the old socket is closed there...
            async with connected(other, "CP-NODE-A", CommandedClient) as moved:
                await moved.boot()
                await asyncio.wait_for(a._connection.wait_closed(), PATIENCE)
                resp = await command(api, "CP-NODE-A", "get-configuration", {})
                assert resp.status_code == 200, resp.text
            # ...and once it is gone from both, it is offline at once.
            resp = await command(api, "CP-NODE-A", "reset", {"type": "Soft"})
            assert resp.status_code == 409, resp.text
    finally:
        await stack.stop("gateway-b")
