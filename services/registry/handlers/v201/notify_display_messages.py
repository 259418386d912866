"""NotifyDisplayMessages (OCPP 2.0.1 O04, after GetDisplayMessages): the messages a station
shows, upserted into `display_message` by id. The message has no seqNo: parts are numbered
as they arrive, a resend (same content key) is stored once."""

from __future__ import annotations

from services.registry.device_model import write_display_messages
from services.registry.handlers.v201.reports import store_part
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.notify_display_messages_request import NotifyDisplayMessagesRequest

KIND = "NotifyDisplayMessages"


async def handle(ctx: HandlerContext, env: Envelope, req: NotifyDisplayMessagesRequest) -> None:
    """Store the part and its messages (once); the gateway answered {}."""
    infos = req.message_info or []
    new = await store_part(
        ctx,
        env,
        req,
        kind=KIND,
        request_id=req.request_id,
        seq_no=None,
        tbc=req.tbc,
        generated_at=None,
        items=len(infos),
    )
    if new:
        await write_display_messages(ctx.session, ctx.chargepoint_id, infos, ctx.now)
