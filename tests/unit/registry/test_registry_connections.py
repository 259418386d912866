"""Which gateway connect / disconnect applies (pure decisions of handlers/gateway_events.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.handlers.gateway_events import (
    Connection,
    Disconnect,
    Stored,
    connect_applies,
    connection_of,
    disconnect_outcome,
)
from shared.bus.topology import GATEWAY_CONNECTED
from shared.envelope import Envelope, Kind
from shared.messages import GatewayConnection

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(seconds=5)


def conn(
    connection_id: str | None, at: datetime | None, ip: str = "10.0.0.1", port: int = 1
) -> Connection:
    return Connection(connection_id=connection_id, connected_at=at, node="n", ip=ip, port=port)


def stored(
    connection_id: str | None,
    at: datetime | None,
    *,
    connected: bool = True,
    ip: str = "10.0.0.1",
    port: int = 1,
) -> Stored:
    return Stored(
        connected=connected, connection_id=connection_id, connected_at=at, ip=ip, port=port
    )


@pytest.mark.parametrize(
    ("current", "incoming", "applies"),
    [
        (stored(None, None, connected=False), conn("a", T0), True),  # first connect
        (stored("a", T0), conn("b", LATER), True),  # newer socket
        (stored("b", LATER), conn("a", T0), False),  # stale connect redelivered
        (stored("a", T0), conn("b", T0), True),  # same instant, other socket: last wins
        (stored("a", T0), conn("a", T0), False),  # the same socket again
        (stored("a", T0, connected=False), conn("a", T0), False),  # after its own close
        (stored("a", T0), conn(None, None), True),  # a gateway naming no connection
    ],
)
def test_connect_applies(current: Stored, incoming: Connection, applies: bool) -> None:
    assert connect_applies(current, incoming) is applies


@pytest.mark.parametrize(
    ("current", "incoming", "outcome"),
    [
        (stored("a", T0), conn("a", T0), Disconnect.CLOSE),
        (stored("a", T0, connected=False), conn("a", T0), Disconnect.IGNORE),  # redelivered
        (stored("b", LATER), conn("a", T0), Disconnect.IGNORE),  # replaced socket
        # Same address, different socket (NAT, port reuse): not the held connection.
        (
            stored("b", LATER, ip="192.0.2.1", port=9),
            conn("a", T0, "192.0.2.1", 9),
            Disconnect.IGNORE,
        ),
        (stored("a", T0), conn("b", LATER), Disconnect.CLOSE_NEWER),  # its connect is late
        (stored("a", T0, connected=False), conn("b", LATER), Disconnect.CLOSE_NEWER),
        (stored("a", T0), conn("b", T0), Disconnect.IGNORE),  # not newer
        (stored("a", T0), conn("b", None), Disconnect.IGNORE),  # cannot be ordered
        # Rows from before migration 0002: the remote address decides.
        (stored(None, None), conn("a", T0), Disconnect.CLOSE),
        (stored(None, None), conn("a", T0, port=2), Disconnect.IGNORE),
        (stored(None, None, connected=False), conn("a", T0), Disconnect.IGNORE),
    ],
)
def test_disconnect_outcome(current: Stored, incoming: Connection, outcome: Disconnect) -> None:
    assert disconnect_outcome(current, incoming) is outcome


def test_connection_of_reads_the_gateway_payload() -> None:
    env = Envelope(
        kind=Kind.EVENT,
        action=GATEWAY_CONNECTED,
        chargepoint_id="CP-1",
        node_id="node-x",
        payload={
            "remote_ip": "10.0.0.1",
            "remote_port": 50001,
            "node_id": "node-1",
            "connection_id": "f" * 32,
            "connected_at": "2026-03-01T12:00:00+00:00",
        },
    )
    req = GatewayConnection.model_validate(env.payload)
    assert connection_of(env, req, default_time=None) == Connection(
        connection_id="f" * 32, connected_at=T0, node="node-1", ip="10.0.0.1", port=50001
    )
    bare = Envelope(
        kind=Kind.EVENT,
        action=GATEWAY_CONNECTED,
        chargepoint_id="CP-1",
        node_id="node-x",
        payload={"connection_id": ""},
    )
    req = GatewayConnection.model_validate(bare.payload)
    assert connection_of(bare, req, default_time=LATER) == Connection(
        connection_id=None, connected_at=LATER, node="node-x", ip=None, port=None
    )
