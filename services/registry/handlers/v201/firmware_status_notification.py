"""FirmwareStatusNotification (OCPP 2.0.1 L01): the latest firmware status on the station.

Same column as 1.6; the requestId is in the event and the message log."""

from __future__ import annotations

from services.registry.latest_status import FIRMWARE, record_latest_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.firmware_status_notification_request import FirmwareStatusNotificationRequest


async def handle(
    ctx: HandlerContext, env: Envelope, req: FirmwareStatusNotificationRequest
) -> None:
    """Keep the reported status as the latest; the gateway answered {}."""
    await record_latest_status(ctx, FIRMWARE, req.status.value, req.request_id)
