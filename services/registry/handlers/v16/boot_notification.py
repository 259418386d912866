"""BootNotification (OCPP 1.6 §4.2): register or update the charge point, answer its status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, func
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.policy import boot_answer, initial_registration_status
from services.registry.queries import chargepoint_id_of, chargepoint_table, clip_row, ocpp_datetime
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

# BootNotification.req field -> chargepoint column.
FIELDS = {
    "chargePointVendor": "chargepoint_vendor",
    "chargePointModel": "chargepoint_model",
    "chargePointSerialNumber": "chargepoint_serial_number",
    "chargeBoxSerialNumber": "chargebox_serial_number",
    "firmwareVersion": "firmware_version",
    "iccid": "iccid",
    "imsi": "imsi",
    "meterType": "meter_type",
    "meterSerialNumber": "meter_serial_number",
}


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Upsert the charge point's identity; answer Accepted / Pending / Rejected + interval."""
    chargepoint_id = chargepoint_id_of(env)
    reported: dict[str, Any] = {col: env.payload.get(key) for key, col in FIELDS.items()}
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
    # An optional field the boot leaves out keeps what an earlier boot reported.
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
        "chargepoint.booted",
        {
            "status": status,
            "created": bool(row.created),
            "ocppVersion": env.ocpp_version,
            **{key: env.payload.get(key) for key in FIELDS if key in env.payload},
        },
        chargepoint_id,
    )
    return {
        "status": status,
        "currentTime": ocpp_datetime(ctx.now),
        "interval": ctx.settings.heartbeat_interval,
    }
