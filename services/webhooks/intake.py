"""Intake: a public event from `csms.events` becomes one delivery row per matching endpoint.

The webhooks queue has a single active consumer (any number of replicas), so deliveries are
inserted in the relay's order; `(endpoint_id, event_id)` is unique, so a redelivered event
adds nothing.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.bus.errors import Reject
from shared.bus.topology import EVENTS, WEBHOOKS_QUEUE
from shared.db.models import WebhookDelivery, WebhookEndpoint
from shared.dispatch import HandlerContext, Payload, Route, Router
from shared.envelope import Envelope
from shared.events.catalogue import EVENT_TYPES, matches, routing_key

ENDPOINT: Table = WebhookEndpoint.__table__  # type: ignore[assignment]
DELIVERY: Table = WebhookDelivery.__table__  # type: ignore[assignment]


def endpoint_wants(endpoint: Any, event: dict[str, Any]) -> bool:
    """Whether an endpoint's subscription (types, locations, charge points) takes `event`."""
    if not matches(list(endpoint.event_types or []), str(event.get("type"))):
        return False
    if endpoint.chargepoint_ids and event.get("chargepoint_id") not in endpoint.chargepoint_ids:
        return False
    return not (endpoint.location_ids and event.get("location_id") not in endpoint.location_ids)


async def take_event(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Insert the deliveries of one public event."""
    event = env.payload
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise Reject("public event without id or type")
    endpoints = (
        await ctx.session.execute(
            select(
                ENDPOINT.c.id,
                ENDPOINT.c.event_types,
                ENDPOINT.c.location_ids,
                ENDPOINT.c.chargepoint_ids,
            ).where(ENDPOINT.c.active.is_(True))
        )
    ).all()
    rows = [
        {
            "endpoint_id": endpoint.id,
            "event_id": uuid.UUID(event["id"]),
            "event_type": event["type"],
            "lane": event.get("chargepoint_id") or "",
            "seq": int(event.get("seq") or 0),
            "body": event,
        }
        for endpoint in endpoints
        if endpoint_wants(endpoint, event)
    ]
    if rows:
        await ctx.session.execute(
            pg_insert(DELIVERY).on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"]),
            rows,
        )
    return None


__all__ = ["ROUTER", "WEBHOOKS_QUEUE", "take_event"]

ROUTER: Final = Router(
    [Route(EVENTS, routing_key(name), take_event, log_message=False) for name in EVENT_TYPES]
)
