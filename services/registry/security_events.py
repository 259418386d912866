"""SecurityEventNotification (1.6 security whitepaper, 2.0.1 A04): message log + event.

Both versions send the same fields (type, timestamp, techInfo).
"""

from __future__ import annotations

from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp import format_datetime
from shared.ocpp.v16.security_event_notification_request import (
    SecurityEventNotificationRequest as SecurityEvent16,
)
from shared.ocpp.v201.security_event_notification_request import (
    SecurityEventNotificationRequest as SecurityEvent201,
)


async def announce_security_event(
    ctx: HandlerContext, env: Envelope, req: SecurityEvent16 | SecurityEvent201
) -> None:
    """No table of its own: the message log row is the record; operators get an event."""
    ctx.emit(
        "chargepoint.security_event",
        {
            "type": req.type,
            "timestamp": format_datetime(req.timestamp),
            "techInfo": req.tech_info,
        },
        ctx.chargepoint_id,
    )
