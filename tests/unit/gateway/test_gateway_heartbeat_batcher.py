"""The gateway's heartbeat batcher (services/gateway/heartbeats.py) with a fake bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.heartbeats import HeartbeatBatcher
from shared.bus.errors import PublishFailed
from shared.bus.topology import GATEWAY_HEARTBEATS, UPSTREAM
from shared.envelope import Envelope
from shared.messages import GatewayHeartbeats

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeBus:
    published: list[tuple[str, str, Envelope, bool]] = field(default_factory=list)
    failures: int = 0

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise PublishFailed("broker gone")
        self.published.append((exchange, routing_key, envelope, mandatory))


def beat(batcher: HeartbeatBatcher, cp: str, seconds: float, uid: str) -> None:
    batcher.add(
        cp,
        T0 + timedelta(seconds=seconds),
        ocpp_version="ocpp1.6",
        unique_id=uid,
        message_id=f"key-{cp}-{uid}",
    )


def flushed(envelope: Envelope) -> dict[str, tuple[datetime, str | None]]:
    parsed = GatewayHeartbeats.model_validate(envelope.payload)  # what the registry parses
    return {b.chargepoint_id: (b.at, b.unique_id) for b in parsed.heartbeats}


async def test_one_confirmed_message_with_the_newest_heartbeat_per_charge_point() -> None:
    bus = FakeBus()
    batcher = HeartbeatBatcher(bus, node_id="n1", interval=1.0)
    beat(batcher, "A", 1, "a1")
    beat(batcher, "A", 3, "a3")
    beat(batcher, "A", 2, "a2")  # older than a3: a3 stays
    beat(batcher, "B", 1, "b1")
    assert await batcher.flush() == 2
    [(exchange, key, envelope, mandatory)] = bus.published
    assert (exchange, key, mandatory) == (UPSTREAM, GATEWAY_HEARTBEATS, True)
    assert envelope.node_id == "n1"
    assert flushed(envelope) == {
        "A": (T0 + timedelta(seconds=3), "a3"),
        "B": (T0 + timedelta(seconds=1), "b1"),
    }
    assert await batcher.flush() == 0  # nothing new: nothing published
    assert len(bus.published) == 1


async def test_a_refused_flush_is_kept_and_merged_into_the_next() -> None:
    bus = FakeBus(failures=1)
    batcher = HeartbeatBatcher(bus, node_id="n1", interval=1.0)
    beat(batcher, "A", 1, "a1")
    beat(batcher, "B", 5, "b5")
    assert await batcher.flush() == 0
    assert bus.published == []
    beat(batcher, "A", 2, "a2")  # newer than the kept one
    beat(batcher, "B", 4, "b4")  # older than the kept one: the kept one wins
    assert await batcher.flush() == 2
    [(_, _, envelope, _)] = bus.published
    assert flushed(envelope) == {
        "A": (T0 + timedelta(seconds=2), "a2"),
        "B": (T0 + timedelta(seconds=5), "b5"),
    }


async def test_stop_flushes_what_is_left() -> None:
    bus = FakeBus()
    batcher = HeartbeatBatcher(bus, node_id="n1", interval=3600)
    batcher.start()
    beat(batcher, "A", 1, "a1")
    await batcher.stop()
    [(_, _, envelope, _)] = bus.published
    assert flushed(envelope) == {"A": (T0 + timedelta(seconds=1), "a1")}


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HeartbeatBatcher(FakeBus(), node_id="n1", interval=0)
