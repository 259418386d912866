"""Intake: a public event from `csms.events` becomes one delivery row per matching endpoint.

The webhooks queue has a single active consumer (any number of replicas), so deliveries are
inserted in the relay's order; `(endpoint_id, event_id)` is unique, so a redelivered event
adds nothing.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.bus.topology import EVENTS, WEBHOOKS_QUEUE
from shared.db.models import WebhookDelivery, WebhookEndpoint
from shared.dispatch import HandlerContext, Route, Router
from shared.envelope import Envelope
from shared.events.catalogue import EVENT_TYPES, matches, routing_key
from shared.messages import PublicEventMessage

ENDPOINT: Table = WebhookEndpoint.__table__  # type: ignore[assignment]
DELIVERY: Table = WebhookDelivery.__table__  # type: ignore[assignment]


def endpoint_wants(endpoint: Any, event: PublicEventMessage) -> bool:
    """Whether an endpoint's subscription (types, locations, charge points) takes `event`."""
    if not matches(list(endpoint.event_types or []), event.type):
        return False
    if endpoint.chargepoint_ids and event.chargepoint_id not in endpoint.chargepoint_ids:
        return False
    return not (endpoint.location_ids and event.location_id not in endpoint.location_ids)


async def take_event(ctx: HandlerContext, env: Envelope, req: PublicEventMessage) -> None:
    """Insert the deliveries of one public event (one without id or type never gets here:
    the dispatcher dead-letters it)."""
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
    body = req.body()
    rows = [
        {
            "endpoint_id": endpoint.id,
            "event_id": req.id,
            "event_type": req.type,
            "lane": req.chargepoint_id or "",
            "seq": req.seq,
            "body": body,
        }
        for endpoint in endpoints
        if endpoint_wants(endpoint, req)
    ]
    if rows:
        await ctx.session.execute(
            pg_insert(DELIVERY).on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"]),
            rows,
        )


__all__ = ["ROUTER", "WEBHOOKS_QUEUE", "take_event"]

ROUTER: Final = Router(
    [
        Route(
            EVENTS,
            routing_key(name),
            take_event,
            PublicEventMessage,
            log_message=False,
            chargepoint_required=False,
        )
        for name in EVENT_TYPES
    ]
)
