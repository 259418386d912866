"""SignedFirmwareStatusNotification (1.6 security whitepaper): the latest firmware status.

Same column as FirmwareStatusNotification; the requestId is in the event and the message log."""

from __future__ import annotations

from services.registry.latest_status import FIRMWARE, record_latest_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.signed_firmware_status_notification_request import (
    SignedFirmwareStatusNotificationRequest,
)


async def handle(
    ctx: HandlerContext, env: Envelope, req: SignedFirmwareStatusNotificationRequest
) -> None:
    """Keep the reported status as the latest; the gateway answered {}."""
    await record_latest_status(ctx, FIRMWARE, req.status.value, req.request_id)
