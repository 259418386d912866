"""OCPP 2.0.1 Authorize (C01): the IdTokenInfo of an idToken, decided as in 1.6."""

from __future__ import annotations

from services.transactions import idtags
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.events.projection import refused_event
from shared.ocpp.v201.authorize_request import AuthorizeRequest
from shared.ocpp.v201.authorize_response import AuthorizeResponse
from shared.ocpp.v201.common import IdTokenInfoType


async def handle(ctx: HandlerContext, env: Envelope, req: AuthorizeRequest) -> AuthorizeResponse:
    """Answer AuthorizeResponse with the decision for idToken (C01): its type must be the
    tag's when the tag has one; NoAuthorization is accepted; groupIdToken = the tag's group
    (a MasterPass group's members get it too, C16)."""
    token = req.id_token.id_token
    info = await idtags.authorize(
        ctx.session, token, now=ctx.now, token_type=req.id_token.type.value
    )
    refused_event(ctx, env, token, str(info["status"]))
    return AuthorizeResponse(
        id_token_info=IdTokenInfoType.model_validate(idtags.id_token_info(info))
    )
