"""OCPP 2.0.1 Authorize (C01): the IdTokenInfo of an idToken, decided as in 1.6."""

from __future__ import annotations

from services.transactions import idtags
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.authorize_request import AuthorizeRequest
from shared.ocpp.v201.authorize_response import AuthorizeResponse
from shared.ocpp.v201.common import IdTokenInfoType


async def handle(ctx: HandlerContext, env: Envelope, req: AuthorizeRequest) -> AuthorizeResponse:
    """Answer AuthorizeResponse with the decision for idToken.idToken (type not considered)."""
    info = await idtags.authorize(ctx.session, req.id_token.id_token, now=ctx.now)
    return AuthorizeResponse(
        id_token_info=IdTokenInfoType.model_validate(idtags.id_token_info(info))
    )
