"""DiagnosticsStatusNotification (OCPP 1.6 §4.4): the latest diagnostics upload status."""

from __future__ import annotations

from services.registry.queries import chargepoint_id_of, set_latest_status
from shared.db import enums
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Keep the status; the history is the message log. The gateway answered `{}` itself."""
    chargepoint_id = chargepoint_id_of(env)
    status = env.payload.get("status")
    previous = await set_latest_status(
        ctx, chargepoint_id, "diagnostics_status", status, enums.DIAGNOSTICS_STATUSES
    )
    ctx.emit(
        "chargepoint.diagnostics_status",
        {"status": status, "previousStatus": previous},
        chargepoint_id,
    )
    return None
