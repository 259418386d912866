"""SecurityEventNotification (1.6 security whitepaper, 2.0.1 A04): message log + event.

Both versions send the same fields (type, timestamp, techInfo).
"""

from __future__ import annotations

from services.registry.queries import chargepoint_id_of
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def announce_security_event(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """No table of its own: the message log row is the record; operators get an event."""
    chargepoint_id = chargepoint_id_of(env)
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
