"""Plain helpers of the registry integration tests (envelopes).

Shared ones (fake deliveries, the recording publisher) are in tests/factories.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.bus.topology import GATEWAY_CONNECTED, GATEWAY_DISCONNECTED
from shared.envelope import Envelope, Kind, utcnow


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
    ocpp_version: str = "ocpp1.6",
) -> Envelope:
    """An upstream CALL envelope as the gateway publishes it."""
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=cp,
        ocpp_version=ocpp_version,
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
