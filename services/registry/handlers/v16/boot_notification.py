"""BootNotification (OCPP 1.6 §4.2): register or update the charge point, answer its status."""

from __future__ import annotations

from typing import Any

from services.registry.boot import register
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
    reported: dict[str, Any] = {col: env.payload.get(key) for key, col in FIELDS.items()}
    announced = {key: env.payload.get(key) for key in FIELDS if key in env.payload}
    return await register(ctx, env, reported, announced)
