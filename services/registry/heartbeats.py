"""Heartbeats (OCPP 1.6 §4.6, 2.0.1 G02): last_heartbeat moves forward, one row per message.

The payload plays no part (1.6 and 2.0.1 Heartbeat requests are both empty).
"""

from __future__ import annotations

from sqlalchemy import Table, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.queries import chargepoint_table
from shared.chargepoints import initial_registration_status
from shared.db.models import Heartbeat
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.heartbeat_request import HeartbeatRequest as Heartbeat16
from shared.ocpp.v201.heartbeat_request import HeartbeatRequest as Heartbeat201

heartbeat_table: Table = Heartbeat.__table__  # type: ignore[assignment]


async def record_heartbeat(
    ctx: HandlerContext, env: Envelope, req: Heartbeat16 | Heartbeat201
) -> None:
    """Record the heartbeat at its receipt time; the gateway answered currentTime itself."""
    chargepoint_id = ctx.chargepoint_id
    received_at = env.created_at
    stmt = pg_insert(chargepoint_table).values(
        chargepoint_id=chargepoint_id,
        registration_status=initial_registration_status(ctx.settings.unknown_chargepoints),
        last_heartbeat=received_at,
    )
    # Heartbeats may be consumed out of order: last_heartbeat never moves back.
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["chargepoint_id"],
            set_={"last_heartbeat": stmt.excluded.last_heartbeat},
            where=or_(
                chargepoint_table.c.last_heartbeat.is_(None),
                chargepoint_table.c.last_heartbeat < stmt.excluded.last_heartbeat,
            ),
        )
    )
    ctx.uow.add(
        heartbeat_table,
        {
            "chargepoint_id": chargepoint_id,
            "timestamp": received_at,
            "message_id": env.correlation_id,
        },
    )
