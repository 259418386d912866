"""LogStatusNotification (OCPP 2.0.1 N01): the latest log upload status.

Kept in `diagnostics_status` like 1.6's; the requestId is in the event and the message log."""

from __future__ import annotations

from services.registry.latest_status import DIAGNOSTICS, record_latest_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.log_status_notification_request import LogStatusNotificationRequest


async def handle(ctx: HandlerContext, env: Envelope, req: LogStatusNotificationRequest) -> None:
    """Keep the reported status as the latest; the gateway answered {}."""
    await record_latest_status(ctx, DIAGNOSTICS, req.status.value, req.request_id)
