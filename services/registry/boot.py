"""Registering a booting charge point, whatever its OCPP version (1.6 §4.2, 2.0.1 B01)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, func
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.policy import boot_answer
from services.registry.queries import chargepoint_table, clip_row
from shared.chargepoints import initial_registration_status
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.event_names import CHARGEPOINT_BOOTED


async def register(
    ctx: HandlerContext, env: Envelope, reported: dict[str, Any], announced: Payload
) -> str:
    """Upsert the charge point with its `reported` columns; the registration status answered.

    `reported` maps chargepoint columns to the values of the boot (None = not reported: an
    optional field a boot leaves out keeps what an earlier boot reported). `announced` is
    what the `chargepoint.booted` event carries besides status, created and ocppVersion.
    Each version's handler builds its BootNotification answer from it (the same three fields
    in 1.6 and 2.0.1: status, currentTime, interval).
    """
    chargepoint_id = ctx.chargepoint_id
    values = clip_row(
        chargepoint_table,
        {
            "chargepoint_id": chargepoint_id,
            **reported,
            "ocpp_version": env.ocpp_version,
            "registration_status": initial_registration_status(ctx.settings.unknown_chargepoints),
        },
    )
    stmt = pg_insert(chargepoint_table).values(values)
    update = {
        col: func.coalesce(stmt.excluded[col], chargepoint_table.c[col])
        for col in (*reported, "ocpp_version")
    }
    upsert = stmt.on_conflict_do_update(index_elements=["chargepoint_id"], set_=update).returning(
        chargepoint_table.c.registration_status,
        chargepoint_table.c.decommissioned_at,
        (column("xmax") == 0).label("created"),
    )
    row = (await ctx.session.execute(upsert)).one()
    status = boot_answer(row.registration_status, decommissioned=row.decommissioned_at is not None)
    ctx.emit(
        CHARGEPOINT_BOOTED,
        {
            "status": status,
            "created": bool(row.created),
            "ocppVersion": env.ocpp_version,
            **announced,
        },
        chargepoint_id,
    )
    return status
