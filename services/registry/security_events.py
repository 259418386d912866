"""SecurityEventNotification (1.6 security whitepaper, 2.0.1 A04): message log, a
`security_event` row (source `chargepoint`, listed by the API) and a domain event.

Both versions send the same fields (type, timestamp, techInfo). The CSMS's own security events
(refused connections, profile upgrades: `record_security_event`) go to the same table with
source `csms`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.policy import clip
from shared.db.models import SecurityEvent
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp import format_datetime
from shared.ocpp.v16.security_event_notification_request import (
    SecurityEventNotificationRequest as SecurityEvent16,
)
from shared.ocpp.v201.security_event_notification_request import (
    SecurityEventNotificationRequest as SecurityEvent201,
)

SECURITY_EVENT = "chargepoint.security_event"
"""The domain event of every security event, the charge point's and the CSMS's own."""


async def record_security_event(
    ctx: HandlerContext,
    chargepoint_id: str,
    event_type: str,
    tech_info: str | None,
    *,
    remote_ip: str | None = None,
    occurred_at: datetime | None = None,
) -> None:
    """A security event the CSMS observed about a charge point (refused connection, profile
    upgrade): a `security_event` row (source `csms`) and the same domain event a
    SecurityEventNotification gets, with `source: "csms"`."""
    await ctx.session.execute(
        insert(SecurityEvent).values(
            chargepoint_id=chargepoint_id,
            source="csms",
            type=event_type[:50],
            tech_info=tech_info,
            remote_ip=remote_ip,
            occurred_at=occurred_at or ctx.now,
        )
    )
    ctx.emit(
        SECURITY_EVENT,
        {
            "type": event_type,
            "timestamp": format_datetime(occurred_at or ctx.now),
            "techInfo": tech_info,
            "source": "csms",
        },
        chargepoint_id,
    )


async def announce_security_event(
    ctx: HandlerContext, env: Envelope, req: SecurityEvent16 | SecurityEvent201
) -> None:
    """Store the event (once per message id) and tell operators."""
    await ctx.session.execute(
        pg_insert(SecurityEvent)
        .values(
            chargepoint_id=ctx.chargepoint_id,
            source="chargepoint",
            type=req.type,  # the models cap it at 50, as the column
            tech_info=req.tech_info,
            occurred_at=req.timestamp,
            message_id=clip(env.correlation_id, 64),
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
    )
    ctx.emit(
        SECURITY_EVENT,
        {
            "type": req.type,
            "timestamp": format_datetime(req.timestamp),
            "techInfo": req.tech_info,
        },
        ctx.chargepoint_id,
    )
