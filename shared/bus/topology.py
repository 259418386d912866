"""Broker names (exchanges, queues, routing keys) and their idempotent declaration."""

from __future__ import annotations

from typing import Any, Final

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from shared.ocpp.versions import OCPP16, OCPP201

UPSTREAM: Final = "ocpp.upstream"
"""Topic exchange, gateway -> services, routing key `ocpp16.<Action>` / `ocpp201.<Action>`."""
DOWNSTREAM: Final = "ocpp.downstream"
"""Direct exchange, commands to charge points, routing key = charge point id."""
EVENTS: Final = "csms.events"
"""Topic exchange, domain events after commit, routing key = event name."""
DEAD_LETTER: Final = "csms.dead-letter"
"""Fanout exchange and the durable queue bound to it (same name)."""

REGISTRY_QUEUE: Final = "csms.registry"
TRANSACTIONS_QUEUE: Final = "csms.transactions"
CHARGING_QUEUE: Final = "csms.charging"
WEBHOOKS_QUEUE: Final = "csms.webhooks"

GATEWAY_CONNECTED: Final = "gateway.connected"
GATEWAY_DISCONNECTED: Final = "gateway.disconnected"
GATEWAY_FRAME_LOG: Final = "gateway.frame_log"
GATEWAY_HEARTBEATS: Final = "gateway.heartbeats"
"""Gateway -> registry: the newest heartbeat per charge point since the last flush."""
GATEWAY_AUTHENTICATE: Final = "gateway.authenticate"
GATEWAY_SECURITY_EVENT: Final = "gateway.security_event"
"""A refusal the gateway decided itself (a client certificate), for the registry to store."""
"""RPC, gateway -> registry: may this charge point open a socket (security profile 1)?"""

VERSION_PREFIXES: Final[dict[str, str]] = {
    OCPP16: "ocpp16",
    OCPP201: "ocpp201",
    "ocpp2.1": "ocpp21",
}
"""OCPP websocket subprotocol -> routing key prefix (a topic key word may not contain dots)."""

_EXCHANGES: Final = (
    (UPSTREAM, aio_pika.ExchangeType.TOPIC),
    (DOWNSTREAM, aio_pika.ExchangeType.DIRECT),
    (EVENTS, aio_pika.ExchangeType.TOPIC),
    (DEAD_LETTER, aio_pika.ExchangeType.FANOUT),
)


def upstream_key(ocpp_version: str, action: str) -> str:
    """The `ocpp.upstream` routing key of an action: `upstream_key("ocpp1.6", "Heartbeat")`."""
    try:
        prefix = VERSION_PREFIXES[ocpp_version]
    except KeyError:
        raise ValueError(f"unknown OCPP version {ocpp_version!r}") from None
    if not action or any(c in action for c in ".*#"):
        raise ValueError(f"invalid action {action!r}")
    return f"{prefix}.{action}"


def gateway_node_queue(node_id: str) -> str:
    """The exclusive downstream queue of one gateway node."""
    return f"gateway.node.{node_id}"


def service_queue_arguments(delivery_limit: int) -> dict[str, Any]:
    """Arguments of a service queue: quorum, delivery limit, dead-letter exchange."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER,
    }


async def declare(channel: AbstractChannel) -> dict[str, AbstractExchange]:
    """Declare the exchanges and the dead-letter queue (idempotent); return the exchanges."""
    exchanges = {
        name: await channel.declare_exchange(name, kind, durable=True) for name, kind in _EXCHANGES
    }
    dead_letter = await channel.declare_queue(
        DEAD_LETTER, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_letter.bind(exchanges[DEAD_LETTER], routing_key="")
    return exchanges
