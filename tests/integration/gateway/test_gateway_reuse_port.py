"""Several gateway processes on one port (SO_REUSEPORT, CSMS_GATEWAY_PROCESSES): each is a node
of its own, and a command reaches the charge point whichever of them holds its socket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from services.gateway.main import process_env
from shared.bus import DOWNSTREAM, Bus
from shared.envelope import Envelope, Kind
from shared.settings import Settings
from tests.integration.gateway.conftest import Gateway, GatewayFactory
from tests.patience import PATIENCE

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]
MAX_SOCKETS = 64
"""Sockets opened until both nodes hold one (the kernel spreads them by a hash of the
addresses: all 64 on one node has a chance of 2**-63)."""


async def reset_reaches(commander: Bus, ws: ClientConnection, cp_id: str) -> None:
    """A Reset sent to `cp_id` arrives on `ws`; its answer comes back to the sender."""
    command = Envelope(
        kind=Kind.CALL, action="Reset", payload={"type": "Soft"}, chargepoint_id=cp_id
    )
    sent = asyncio.create_task(commander.rpc(DOWNSTREAM, cp_id, command, timeout=PATIENCE))
    frame: list[Any] = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
    assert frame[0] == 2 and frame[2] == "Reset" and frame[3] == {"type": "Soft"}
    await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
    reply = await sent
    assert reply.kind is Kind.RESULT and reply.payload == {"status": "Accepted"}


async def test_a_command_reaches_a_station_on_either_process_sharing_the_port(
    gateway_factory: GatewayFactory, commander: Bus, prefix: str
) -> None:
    first: Gateway = await gateway_factory(gateway_reuse_port=True)
    second: Gateway = await gateway_factory(gateway_reuse_port=True, port=first.port)
    assert first.port == second.port and first.node_id != second.node_id
    held: dict[str, tuple[str, ClientConnection]] = {}  # node id -> (charge point, socket)
    async with contextlib.AsyncExitStack() as stack:
        for i in range(MAX_SOCKETS):
            cp_id = f"{prefix}{i}"
            ws = await stack.enter_async_context(connect(first.url(cp_id), subprotocols=OCPP16))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PATIENCE
            owners: list[Gateway] = []
            while not owners:
                owners = [g for g in (first, second) if g.downstream.routable(cp_id)]
                if loop.time() > deadline:
                    pytest.fail(f"{cp_id} was never routable on either node")
                await asyncio.sleep(0.01)
            [owner] = owners
            held.setdefault(owner.node_id, (cp_id, ws))
            if len(held) == 2:
                break
        assert set(held) == {first.node_id, second.node_id}, "every socket went to one node"
        for cp_id, ws in held.values():
            await reset_reaches(commander, ws, cp_id)


def test_each_process_is_a_node_of_its_own_on_a_shared_port() -> None:
    settings = Settings(gateway_node_id="gw-a", gateway_processes=3)
    envs = [process_env(settings, n) for n in (1, 2, 3)]
    assert [e["CSMS_GATEWAY_NODE_ID"] for e in envs] == ["gw-a-1", "gw-a-2", "gw-a-3"]
    assert {e["CSMS_GATEWAY_REUSE_PORT"] for e in envs} == {"true"}
    assert {e["CSMS_GATEWAY_PROCESSES"] for e in envs} == {"1"}  # no process starts more
