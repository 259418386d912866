"""FirmwareStatusNotification (OCPP 1.6 §4.5): the latest firmware status on the charge point."""

from __future__ import annotations

from services.registry.latest_status import FIRMWARE, record_latest_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.firmware_status_notification_request import FirmwareStatusNotificationRequest


async def handle(
    ctx: HandlerContext, env: Envelope, req: FirmwareStatusNotificationRequest
) -> None:
    """Keep the reported status as the latest; the gateway answered {}."""
    await record_latest_status(ctx, FIRMWARE, req.status.value)
