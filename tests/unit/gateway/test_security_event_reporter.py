"""The gateway's certificate refusals as security events: published in the background,
bounded (services/gateway/security_events.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.gateway import security_events
from services.gateway.security_events import SecurityEventReporter
from shared.bus.topology import GATEWAY_SECURITY_EVENT, UPSTREAM
from shared.envelope import Envelope
from shared.messages import GatewaySecurityEvent


class HeldBus:
    """Publishes only when released: what a slow broker looks like."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, Envelope]] = []
        self.release = asyncio.Event()

    async def publish(self, exchange: str, routing_key: str, envelope: Envelope, **_: Any) -> None:
        await self.release.wait()
        self.published.append((exchange, routing_key, envelope))

    async def rpc(self, *args: Any, **kwargs: Any) -> Envelope:
        raise NotImplementedError


async def test_a_refusal_is_published_without_waiting_and_parses_in_the_registry() -> None:
    bus = HeldBus()
    reporter = SecurityEventReporter(bus, "node-1")
    assert reporter.report("CP-1", "10.0.0.1", "subject CN 'CP-2' is not the charge point id")
    assert bus.published == []  # report() returned before the broker confirmed anything
    bus.release.set()
    await reporter.drain()
    [(exchange, key, envelope)] = bus.published
    assert (exchange, key, envelope.chargepoint_id) == (UPSTREAM, GATEWAY_SECURITY_EVENT, "CP-1")
    event = GatewaySecurityEvent.model_validate(envelope.payload)
    assert event.type == "InvalidChargingStationCertificate"
    assert event.remote_ip == "10.0.0.1"
    assert event.tech_info is not None and "CP-2" in event.tech_info


async def test_repeats_and_floods_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security_events, "MAX_IN_FLIGHT", 3)
    bus = HeldBus()
    reporter = SecurityEventReporter(bus, "node-1")
    assert reporter.report("CP-1", "10.0.0.1", "wrong CN")
    assert not reporter.report("CP-1", "10.0.0.1", "wrong CN")  # same within the minute
    assert reporter.report("CP-1", "10.0.0.2", "wrong CN")
    assert reporter.report("CP-2", "10.0.0.1", "wrong CN")
    assert not reporter.report("CP-3", "10.0.0.1", "wrong CN")  # 3 under way: dropped
    bus.release.set()
    await reporter.drain()
    assert len(bus.published) == 3
    assert reporter.report("CP-3", "10.0.0.1", "wrong CN")  # room again
    await reporter.drain()
    assert len(bus.published) == 4
