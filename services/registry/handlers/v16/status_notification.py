"""StatusNotification (OCPP 1.6 §4.9): latest status per connector, every report kept.

The rules (connectorId 0, ordering, Scheduled availability) are in services/registry/status.py,
shared with 2.0.1.
"""

from __future__ import annotations

from services.registry.status import record_status, resolved_availability
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.status_notification_request import StatusNotificationRequest

__all__ = ["handle", "resolved_availability"]


async def handle(ctx: HandlerContext, env: Envelope, req: StatusNotificationRequest) -> None:
    """Apply the report if it is the latest, and always store it."""
    await record_status(
        ctx,
        env,
        connector_id=req.connector_id,
        status=req.status.value,
        error_code=req.error_code.value,
        reported=req.timestamp,
        extra={
            "info": req.info,
            "vendor_id": req.vendor_id,
            "vendor_error_code": req.vendor_error_code,
        },
    )
