"""LogStatusNotification (1.6 security whitepaper): the latest log upload status.

It is the security extension's successor of DiagnosticsStatusNotification, so it is kept in
the same column; the message log keeps the history with the requestId."""

from __future__ import annotations

from services.registry.latest_status import DIAGNOSTICS, record_latest_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.log_status_notification_request import LogStatusNotificationRequest


async def handle(ctx: HandlerContext, env: Envelope, req: LogStatusNotificationRequest) -> None:
    """Keep the reported status as the latest; the gateway answered {}."""
    await record_latest_status(ctx, DIAGNOSTICS, req.status.value, req.request_id)
