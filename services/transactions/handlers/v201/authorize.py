"""OCPP 2.0.1 Authorize (C01): the IdTokenInfo of an idToken, decided as in 1.6."""

from __future__ import annotations

from services.transactions import idtags
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.ocpp.v201.authorize_request import AuthorizeRequest


async def handle(ctx: HandlerContext, env: Envelope, req: AuthorizeRequest) -> Payload:
    """Answer AuthorizeResponse with the decision for idToken.idToken (type not considered)."""
    info = await idtags.authorize(ctx.session, req.id_token.id_token, now=ctx.now)
    return {"idTokenInfo": idtags.id_token_info(info)}
