"""OCPP 2.0.1 Authorize (C01): the IdTokenInfo of an idToken, decided as in 1.6."""

from __future__ import annotations

from services.transactions import idtags
from services.transactions.tables import payload_errors
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.events.projection import refused_event


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Answer AuthorizeResponse with the decision for idToken.idToken (type not considered)."""
    with payload_errors(env.action, env.ocpp_version or ""):
        token = str(env.payload["idToken"]["idToken"])
    info = await idtags.authorize(ctx.session, token, now=ctx.now)
    refused_event(ctx, env, token, str(info["status"]))
    return {"idTokenInfo": idtags.id_token_info(info)}
