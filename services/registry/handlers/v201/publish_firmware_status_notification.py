"""PublishFirmwareStatusNotification (OCPP 2.0.1 L03, after PublishFirmware): the latest
status of the station as a local firmware server, kept in `publish_firmware_status` like the
firmware and log statuses (services/registry/latest_status.py); the requestId and the
locations are in the event and the message log."""

from __future__ import annotations

from services.registry.latest_status import PUBLISH_FIRMWARE, record_latest_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.publish_firmware_status_notification_request import (
    PublishFirmwareStatusNotificationRequest,
)


async def handle(
    ctx: HandlerContext, env: Envelope, req: PublishFirmwareStatusNotificationRequest
) -> None:
    """Keep the reported status as the latest; the gateway answered {}."""
    await record_latest_status(ctx, PUBLISH_FIRMWARE, req.status.value, req.request_id)
