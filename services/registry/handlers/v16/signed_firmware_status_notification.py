"""SignedFirmwareStatusNotification (1.6 security whitepaper): the latest firmware status."""

from __future__ import annotations

from services.registry.queries import chargepoint_id_of, set_latest_status
from shared.db import enums
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Same column as FirmwareStatusNotification; requestId stays in the message log."""
    chargepoint_id = chargepoint_id_of(env)
    status = env.payload.get("status")
    previous = await set_latest_status(
        ctx, chargepoint_id, "firmware_status", status, enums.FIRMWARE_STATUSES
    )
    ctx.emit(
        "chargepoint.firmware_status",
        {"status": status, "previousStatus": previous, "requestId": env.payload.get("requestId")},
        chargepoint_id,
    )
    return None
