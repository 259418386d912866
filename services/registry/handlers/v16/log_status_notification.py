"""LogStatusNotification (1.6 security whitepaper): the latest log upload status.

It is the security extension's successor of DiagnosticsStatusNotification, so it is kept in
the same column (whose value set includes UploadLogStatusEnumType); the message log keeps
the history with the requestId.
"""

from __future__ import annotations

from services.registry.queries import chargepoint_id_of, set_latest_status
from shared.db import enums
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Keep the status as the latest diagnostics status."""
    chargepoint_id = chargepoint_id_of(env)
    status = env.payload.get("status")
    previous = await set_latest_status(
        ctx, chargepoint_id, "diagnostics_status", status, enums.DIAGNOSTICS_STATUSES
    )
    ctx.emit(
        "chargepoint.diagnostics_status",
        {"status": status, "previousStatus": previous, "requestId": env.payload.get("requestId")},
        chargepoint_id,
    )
    return None
