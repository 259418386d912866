"""Plain helpers of the registry integration tests (envelopes, fake deliveries)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.bus.topology import GATEWAY_CONNECTED, GATEWAY_DISCONNECTED, upstream_key
from shared.envelope import Envelope, Kind, utcnow


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

    def named(self, name: str) -> list[Envelope]:
        return [e for e in self.events if e.action == name]


def new_cp() -> str:
    """A charge point id of its own per test (the test database is shared)."""
    return f"CP-REG-{uuid.uuid4().hex[:12]}"


def call(
    cp: str,
    action: str,
    payload: dict[str, Any],
    *,
    correlation_id: str | None = None,
    created_at: datetime | None = None,
) -> Envelope:
    """An upstream CALL envelope as the gateway publishes it."""
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=cp,
        ocpp_version="ocpp1.6",
        unique_id=uuid.uuid4().hex[:20],
        correlation_id=correlation_id or uuid.uuid4().hex,
        node_id="test-node",
        created_at=created_at or utcnow(),
    )


def connection_event(
    cp: str,
    action: str,
    *,
    node: str,
    ip: str,
    port: int,
    at: datetime | None = None,
    connection_id: str | None = None,
) -> Envelope:
    """`gateway.connected` / `gateway.disconnected` as services/gateway/server.py sends them.

    `at` is the socket's open time (`connected_at`), `connection_id` its id (fresh if None).
    """
    assert action in (GATEWAY_CONNECTED, GATEWAY_DISCONNECTED)
    at = at or utcnow()
    return Envelope(
        kind=Kind.EVENT,
        action=action,
        chargepoint_id=cp,
        ocpp_version="ocpp1.6",
        node_id=node,
        payload={
            "remote_ip": ip,
            "remote_port": port,
            "node_id": node,
            "subprotocol": "ocpp1.6",
            "connection_id": connection_id or uuid.uuid4().hex,
            "connected_at": at.isoformat(),
            "timestamp": utcnow().isoformat(),
        },
    )


def closing(connect: Envelope) -> Envelope:
    """The `gateway.disconnected` of the socket a `gateway.connected` announced."""
    assert connect.action == GATEWAY_CONNECTED
    return Envelope(
        kind=Kind.EVENT,
        action=GATEWAY_DISCONNECTED,
        chargepoint_id=connect.chargepoint_id,
        ocpp_version=connect.ocpp_version,
        node_id=connect.node_id,
        payload={**connect.payload, "timestamp": utcnow().isoformat()},
    )


def delivery(env: Envelope) -> FakeDelivery:
    """OCPP CALLs come on `ocpp16.<Action>`; gateway messages on their action's name."""
    if env.kind is Kind.CALL and not env.action.startswith("gateway."):
        return FakeDelivery(env, upstream_key("ocpp1.6", env.action))
    return FakeDelivery(env, env.action)


Run = Callable[[Sequence[Envelope]], Awaitable[list[Envelope | None]]]
Sql = Callable[..., Awaitable[list[dict[str, Any]]]]
