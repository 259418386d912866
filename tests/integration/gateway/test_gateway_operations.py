"""What an operator sees of a gateway: metrics of connections and calls, truthful readiness."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from shared.bus import Bus
from shared.bus.consumer import Delivery, Outcome
from shared.envelope import Envelope, Kind
from shared.queuewatch import QueueWatch
from tests.fixtures.bus import NameFactory
from tests.integration.gateway.conftest import FakeService, Gateway

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_normal_connection_is_not_a_lost_message(gateway: Gateway, prefix: str) -> None:
    """The takeover RPC of every new connection is unroutable when nobody else holds the id:
    that is its usual answer, not a loss, and `bus_unroutable_total` must stay flat."""
    before = gateway.bus.metrics.unroutable
    opened = sample("gateway_connections_opened_total", version="ocpp1.6")
    closed = sample("gateway_connections_closed_total", code="1000")
    for n in range(3):
        async with connect(gateway.url(f"{prefix}plain{n}"), subprotocols=OCPP16) as ws:
            assert ws.subprotocol == "ocpp1.6"
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
    assert gateway.bus.metrics.unroutable == before
    assert sample("gateway_connections_opened_total", version="ocpp1.6") == opened + 3
    for _ in range(100):  # the server's side of each close is counted when its handler ends
        if sample("gateway_connections_closed_total", code="1000") == closed + 3:
            break
        await asyncio.sleep(0.02)
    assert sample("gateway_connections_closed_total", code="1000") == closed + 3


async def test_call_latency_per_action_and_unknown_actions_bounded(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    labels = {"version": "ocpp1.6", "direction": "in"}
    booted = sample("ocpp_call_seconds_count", action="BootNotification", **labels)
    unknown = sample("ocpp_call_seconds_count", action="unknown", **labels)
    async with connect(gateway.url(f"{prefix}lat"), subprotocols=OCPP16) as ws:
        boot = [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        await ws.send(orjson.dumps(boot).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3
        for n in range(3):  # each a new action name: without bounding, three new series
            await ws.send(orjson.dumps([2, f"x{n}", f"MadeUp{prefix}{n}", {}]).decode())
            answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer[2] == "NotImplemented"
    assert sample("ocpp_call_seconds_count", action="BootNotification", **labels) == booted + 1
    assert sample("ocpp_call_seconds_count", action="unknown", **labels) == unknown + 3
    exported = "\n".join(s.labels.get("action", "") for m in REGISTRY.collect() for s in m.samples)
    assert f"MadeUp{prefix}" not in exported


async def _nothing(deliveries: list[Delivery]) -> list[Outcome]:
    return [None] * len(deliveries)


async def test_queue_watch_ready_only_while_the_rpc_queues_have_consumers(
    bus: Bus, bus_factory: object, unique_name: NameFactory
) -> None:
    """The registry stopped (its RPC queue has no consumer): not ready; back: ready."""
    registry_rpc, transactions_rpc, missing = (unique_name(p) for p in ("reg", "tx", "none"))
    for name in (registry_rpc, transactions_rpc):
        await bus.declare_service_queue(name, [])
    watch = QueueWatch(bus, [missing], required=[registry_rpc, transactions_rpc])
    assert not watch.ready()  # nothing seen yet
    await watch.refresh()
    assert not watch.ready()
    assert watch.missing_consumers() == [registry_rpc, transactions_rpc]
    assert watch.states[missing].exists is False

    registry = await bus_factory(name=unique_name("registry"))  # type: ignore[operator]
    transactions = await bus_factory(name=unique_name("transactions"))  # type: ignore[operator]
    consumer = await registry.consume(registry_rpc, _nothing)
    await transactions.consume(transactions_rpc, _nothing)
    await watch.refresh()
    assert watch.ready()
    assert sample("bus_queue_consumers", queue=registry_rpc) == 1

    await consumer.stop()  # the registry goes away
    await registry.close()
    await watch.refresh()
    assert not watch.ready()
    assert watch.missing_consumers() == [registry_rpc]
    assert sample("bus_queue_consumers", queue=registry_rpc) == 0

    await transactions.close()
    await bus.publish("", transactions_rpc, _envelope())
    await watch.refresh()
    assert watch.states[transactions_rpc].messages == 1


async def test_queue_watch_is_not_ready_when_the_broker_is_unreachable(
    bus_factory: object, unique_name: NameFactory
) -> None:
    from tests.fixtures.bus import kill_connection

    name = unique_name("watch")
    bus = await bus_factory(name=name, reconnect_interval=30.0)  # type: ignore[operator]
    queue = unique_name("q")
    await bus.declare_service_queue(queue, [])
    await bus.consume(queue, _nothing)
    watch = QueueWatch(bus, [], required=[queue])
    await watch.refresh()
    assert watch.ready()
    kill_connection(name)
    for _ in range(3):
        await watch.refresh()
    assert not watch.ready()


def _envelope() -> Envelope:
    return Envelope(kind=Kind.EVENT, action="test.watch", payload={})
