"""The gateway's upstream batcher (services/gateway/batching.py) with a fake bus."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from services.gateway.batching import UpstreamBatcher
from shared.bus.errors import Unroutable
from shared.envelope import Envelope, Kind


@dataclass
class FakeBus:
    """Confirms a publish only when the test releases it."""

    sent: list[tuple[str, list[int]]] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    unroutable: set[str] = field(default_factory=set)
    mandatory: list[bool] = field(default_factory=list)

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        await self.publish_batch(exchange, routing_key, [envelope], mandatory=mandatory)

    async def publish_batch(
        self,
        exchange: str,
        routing_key: str,
        envelopes: Sequence[Envelope],
        *,
        mandatory: bool = False,
    ) -> None:
        self.sent.append((routing_key, [e.payload["n"] for e in envelopes]))
        self.mandatory.append(mandatory)
        await self.gate.wait()
        if routing_key in self.unroutable:
            raise Unroutable(exchange, routing_key)


def env(n: int) -> Envelope:
    return Envelope(kind=Kind.CALL, action="MeterValues", payload={"n": n})


async def test_calls_that_come_while_a_publish_is_in_flight_go_out_together() -> None:
    bus = FakeBus()
    batcher = UpstreamBatcher(bus, "ex", max_in_flight=1)
    first = asyncio.create_task(batcher.publish("mv", env(0)))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    rest = [
        asyncio.create_task(batcher.publish("mv" if n < 4 else "sn", env(n))) for n in (1, 2, 3, 4)
    ]
    await asyncio.sleep(0)
    assert bus.sent == [("mv", [0])]  # only the first is out; nobody answered yet
    assert not any(t.done() for t in (first, *rest))
    bus.gate.set()
    await asyncio.gather(first, *rest)
    # The waiting ones went out as one message per routing key.
    assert bus.sent == [("mv", [0]), ("mv", [1, 2, 3]), ("sn", [4])]
    assert batcher.published == 3


async def test_every_caller_of_an_unroutable_message_is_told() -> None:
    bus = FakeBus(unroutable={"mv"})
    bus.gate.set()
    batcher = UpstreamBatcher(bus, "ex", max_in_flight=1)
    results = await asyncio.gather(
        *(batcher.publish("mv", env(n)) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, Unroutable) for r in results)


async def test_mandatory_and_not_are_published_apart() -> None:
    bus = FakeBus()
    bus.gate.set()
    batcher = UpstreamBatcher(bus, "ex", max_in_flight=1)
    first = asyncio.create_task(batcher.publish("k", env(0)))
    await asyncio.sleep(0)
    await asyncio.gather(
        first,
        batcher.publish("k", env(1)),
        batcher.publish("k", env(2), mandatory=False),
        batcher.publish("k", env(3), mandatory=False),
    )
    assert sorted(zip(bus.mandatory, bus.sent, strict=True)) == [
        (False, ("k", [2, 3])),
        (True, ("k", [0])),
        (True, ("k", [1])),
    ]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        UpstreamBatcher(FakeBus(), "ex", max_in_flight=0)
