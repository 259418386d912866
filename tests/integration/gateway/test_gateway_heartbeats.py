"""Heartbeats answered by the gateway itself, last-seen flushed in one message (issue 15)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from shared.bus import UPSTREAM, Bus
from shared.bus.topology import GATEWAY_AUTHENTICATE, GATEWAY_HEARTBEATS
from shared.envelope import Envelope, message_key
from tests.fixtures.bus import BusFactory
from tests.integration.gateway.conftest import FakeService, GatewayFactory
from tests.integration.gateway.test_gateway_upstream import exchange
from tests.patience import eventually

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]
OCPP201 = [Subprotocol("ocpp2.0.1")]


async def flushes(bus: Bus, received: list[Envelope]) -> None:
    """Collect every `gateway.heartbeats` message on the test's vhost."""
    channel = await bus.connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(UPSTREAM, GATEWAY_HEARTBEATS)

    async def on_message(message: AbstractIncomingMessage) -> None:
        received.append(Envelope.from_bytes(message.body))

    await queue.consume(on_message, no_ack=True)


def newest(received: list[Envelope], cp_id: str) -> dict[str, Any] | None:
    found = None
    for envelope in received:
        for beat in envelope.payload["heartbeats"]:
            if beat["chargepoint_id"] == cp_id:
                found = beat
    return found


async def test_heartbeats_are_answered_by_the_gateway_and_flushed_in_one_message(
    gateway_factory: GatewayFactory,
    service: FakeService,
    bus_factory: BusFactory,
    prefix: str,
) -> None:
    received: list[Envelope] = []
    await flushes(await bus_factory(name=f"flushes-{prefix}"), received)
    gateway = await gateway_factory(gateway_heartbeat_batch_seconds=0.2)
    a, b = f"{prefix}a", f"{prefix}b"
    async with (
        connect(gateway.url(a), subprotocols=OCPP16) as wa,
        connect(gateway.url(b), subprotocols=OCPP201) as wb,
    ):
        for uid in ("h1", "h2", "h3"):
            answer = await exchange(wa, [2, uid, "Heartbeat", {}])
            assert answer[:2] == [3, uid]
            assert answer[2]["currentTime"].endswith("Z")
        answer = await exchange(wb, [2, "x1", "Heartbeat", {}])
        assert answer[:2] == [3, "x1"]
        # A CALL that is still published goes through as before.
        assert (await exchange(wa, [2, "s1", "StatusNotification", STATUS]))[:2] == [3, "s1"]
        await eventually(lambda: (newest(received, a) or {}).get("unique_id") == "h3")
        await eventually(lambda: newest(received, b) is not None)
    # No message per heartbeat: the services only see the flushes.
    assert service.of(a, "Heartbeat") == service.of(b, "Heartbeat") == []
    assert len(service.of(a, "StatusNotification")) == 1
    beat_a, beat_b = newest(received, a), newest(received, b)
    assert beat_a is not None and beat_b is not None
    assert beat_a["message_id"] == message_key(a, "h3", "Heartbeat", {})
    assert beat_a["ocpp_version"] == "ocpp1.6"
    assert beat_b["message_id"] == message_key(b, "x1", "Heartbeat", {})
    assert beat_b["ocpp_version"] == "ocpp2.0.1"
    assert all(e.node_id == gateway.node_id for e in received)


async def test_a_heartbeat_before_the_boot_is_still_refused(
    gateway_factory: GatewayFactory, service: FakeService, bus_factory: BusFactory, prefix: str
) -> None:
    received: list[Envelope] = []
    await flushes(await bus_factory(name=f"flushes-{prefix}"), received)
    # The (fake) registry allows the socket but knows no registration status: not Accepted.
    service.answers[GATEWAY_AUTHENTICATE] = lambda _env: {
        "allowed": True,
        "reason": "no password set (security profile 0)",
        "registration_status": None,
    }
    gateway = await gateway_factory(gateway_heartbeat_batch_seconds=0.05, authenticate=True)
    cp_id = f"{prefix}new"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        answer = await exchange(ws, [2, "h1", "Heartbeat", {}])
    assert answer[0] == 4 and answer[2] == "SecurityError"
    await gateway.server.close()  # flushes what it holds
    assert newest(received, cp_id) is None


async def test_the_gateway_flushes_on_close(
    gateway_factory: GatewayFactory, bus_factory: BusFactory, prefix: str
) -> None:
    received: list[Envelope] = []
    await flushes(await bus_factory(name=f"flushes-{prefix}"), received)
    gateway = await gateway_factory(gateway_heartbeat_batch_seconds=60)
    cp_id = f"{prefix}c"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await ws.send(orjson.dumps([2, "h1", "Heartbeat", {}]).decode())
        await asyncio.wait_for(ws.recv(), 30)
    await gateway.server.close()
    await eventually(lambda: newest(received, cp_id) is not None)


STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
