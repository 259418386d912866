"""DiagnosticsStatusNotification (OCPP 1.6 §4.4): the latest diagnostics upload status."""

from __future__ import annotations

from services.registry.latest_status import DIAGNOSTICS, record_latest_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.diagnostics_status_notification_request import (
    DiagnosticsStatusNotificationRequest,
)


async def handle(
    ctx: HandlerContext, env: Envelope, req: DiagnosticsStatusNotificationRequest
) -> None:
    """Keep the reported status as the latest; the gateway answered {}."""
    await record_latest_status(ctx, DIAGNOSTICS, req.status.value)
