"""OCPP 1.6 Authorize: the IdTagInfo of an idTag (§4.1)."""

from __future__ import annotations

from services.transactions import idtags
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.events.projection import refused_event
from shared.ocpp.v16.authorize_request import AuthorizeRequest
from shared.ocpp.v16.authorize_response import AuthorizeResponse
from shared.ocpp.v16.common import IdTagInfo


async def handle(ctx: HandlerContext, env: Envelope, req: AuthorizeRequest) -> AuthorizeResponse:
    """Answer Authorize.conf with the authorization decision for the tag."""
    info = await idtags.authorize(ctx.session, req.id_tag, now=ctx.now)
    refused_event(ctx, env, req.id_tag, str(info["status"]))
    return AuthorizeResponse(id_tag_info=IdTagInfo.model_validate(info))
