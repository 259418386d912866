"""Plain helpers of the transactions integration tests (envelopes, fake deliveries)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.bus.topology import upstream_key
from shared.envelope import Envelope, Kind

CP = "CP-TX-1"


@dataclass(frozen=True)
class FakeDelivery:
    """What the Dispatcher needs of a bus Delivery."""

    envelope: Envelope
    routing_key: str


class RecordingPublisher:
    """Collects the domain events the dispatcher publishes after commit."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def publish_event(self, envelope: Envelope) -> None:
        self.events.append(envelope)

    def names(self) -> list[str]:
        return [e.action for e in self.events]


def call(
    action: str,
    payload: dict[str, Any],
    *,
    chargepoint_id: str = CP,
    correlation_id: str | None = None,
) -> Envelope:
    """An upstream CALL envelope as the gateway publishes it."""
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=chargepoint_id,
        ocpp_version="ocpp1.6",
        unique_id=uuid.uuid4().hex[:20],
        correlation_id=correlation_id or uuid.uuid4().hex,
        node_id="test-node",
    )


def delivery(env: Envelope) -> FakeDelivery:
    return FakeDelivery(env, upstream_key("ocpp1.6", env.action))


Run = Callable[[Sequence[Envelope]], Awaitable[list[Envelope | None]]]
Sql = Callable[..., Awaitable[list[dict[str, Any]]]]
