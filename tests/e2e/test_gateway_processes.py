"""`csms gateway` with CSMS_GATEWAY_PROCESSES=2: two processes on one port (SO_REUSEPORT), each
a node of its own; a command through the REST API reaches a station on either of them."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.typing import Subprotocol

from bench.stack import Stack, free_port
from tests.e2e.test_ocpp16_session import rows
from tests.patience import PATIENCE

pytestmark = [pytest.mark.e2e]

OCPP16 = [Subprotocol("ocpp1.6")]
BOOT = {"chargePointVendor": "E2E", "chargePointModel": "Procs"}
MAX_STATIONS = 32
"""Stations connected until both processes hold one (the kernel spreads connections by a
hash of the addresses: all 32 on one process has a chance of 2**-31)."""


class Station:
    """A raw OCPP 1.6 station that boots and answers every Reset Accepted."""

    def __init__(self, ws: Any, cp_id: str) -> None:
        self.ws, self.cp_id = ws, cp_id
        self.resets: list[dict[str, Any]] = []
        self.booted: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame[0] == 3 and frame[1] == "boot":
                self.booted.set_result(frame)
            elif frame[0] == 2 and frame[2] == "Reset":
                self.resets.append(frame[3])
                await self.ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())

    async def boot(self) -> None:
        await self.ws.send(orjson.dumps([2, "boot", "BootNotification", BOOT]).decode())
        answer = await asyncio.wait_for(self.booted, PATIENCE)
        assert answer[2]["status"] == "Accepted"


async def node_of(engine: AsyncEngine, cp_id: str) -> str | None:
    [row] = await rows(
        engine, "select connected_node from chargepoint where chargepoint_id = :cp", cp=cp_id
    )
    node: str | None = row["connected_node"]
    return node


async def test_a_command_reaches_a_station_on_either_gateway_process(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    name = "gw-procs"
    port = free_port()
    stack.extra_ports[name] = port
    env = {
        "CSMS_GATEWAY_PORT": str(port),
        "CSMS_GATEWAY_TLS_PORT": str(free_port()),
        "CSMS_GATEWAY_NODE_ID": name,
        "CSMS_GATEWAY_PROCESSES": "2",
    }
    await stack.start(name, service="gateway", env=env)
    held: dict[str, Station] = {}  # node id -> a station it holds
    try:
        async with contextlib.AsyncExitStack() as sockets:
            for i in range(MAX_STATIONS):
                cp_id = f"CP-PROCS-{i}"
                ws = await sockets.enter_async_context(
                    websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{cp_id}", subprotocols=OCPP16)
                )
                station = Station(ws, cp_id)
                await station.boot()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + PATIENCE
                while (node := await node_of(db_engine, cp_id)) is None:
                    assert loop.time() < deadline, f"{cp_id}: no connected node recorded"
                    await asyncio.sleep(0.05)
                held.setdefault(node, station)
                if len(held) == 2:
                    break
            assert set(held) == {f"{name}-1", f"{name}-2"}, held
            for station in held.values():
                resp = await api.post(
                    f"/api/v1/chargepoints/{station.cp_id}/commands/reset", json={"type": "Soft"}
                )
                assert resp.status_code == 200, resp.text
                assert station.resets == [{"type": "Soft"}]
            for station in held.values():
                station.reader.cancel()
    finally:
        await stack.stop(name)
