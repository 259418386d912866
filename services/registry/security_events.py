"""SecurityEventNotification (1.6 security whitepaper, 2.0.1 A04): message log, a
`security_event` row (source `chargepoint`, listed by the API) and a domain event.

Both versions send the same fields (type, timestamp, techInfo). The CSMS's own security events
(refused connections, profile upgrades: `record_security_event`) go to the same table with
source `csms`.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.policy import clip, parse_timestamp
from services.registry.queries import chargepoint_id_of
from shared.db.models import SecurityEvent
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

CSMS_EVENT = "chargepoint.security_event"


async def record_security_event(
    ctx: HandlerContext,
    chargepoint_id: str,
    event_type: str,
    tech_info: str | None,
    *,
    remote_ip: str | None = None,
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
            occurred_at=ctx.now,
        )
    )
    ctx.emit(
        CSMS_EVENT,
        {
            "type": event_type,
            "timestamp": ctx.now.isoformat(),
            "techInfo": tech_info,
            "source": "csms",
        },
        chargepoint_id,
    )


async def announce_security_event(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Store the event (once per message id) and tell operators."""
    chargepoint_id = chargepoint_id_of(env)
    tech_info = env.payload.get("techInfo")
    await ctx.session.execute(
        pg_insert(SecurityEvent)
        .values(
            chargepoint_id=chargepoint_id,
            source="chargepoint",
            type=clip(env.payload.get("type"), 50) or "",
            tech_info=clip(tech_info, None) if tech_info is not None else None,
            occurred_at=parse_timestamp(env.payload.get("timestamp")) or env.created_at,
            message_id=clip(env.correlation_id, 64),
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
    )
    ctx.emit(
        "chargepoint.security_event",
        {
            "type": env.payload.get("type"),
            "timestamp": env.payload.get("timestamp"),
            "techInfo": env.payload.get("techInfo"),
        },
        chargepoint_id,
    )
    return None
