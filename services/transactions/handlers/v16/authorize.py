"""OCPP 1.6 Authorize: the IdTagInfo of an idTag (§4.1)."""

from __future__ import annotations

from services.transactions import idtags
from services.transactions.tables import payload_errors
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.events.projection import refused_event


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Answer Authorize.conf with the authorization decision for the tag."""
    with payload_errors(env.action):
        id_tag = str(env.payload["idTag"])
    info = await idtags.authorize(ctx.session, id_tag, now=ctx.now)
    refused_event(ctx, env, id_tag, str(info["status"]))
    return {"idTagInfo": info}
