"""BootNotification (OCPP 2.0.1 B01-B04): the same registration as 1.6, 2.0.1 field names.

chargingStation {model, vendorName, serialNumber, firmwareVersion, modem {iccid, imsi}} maps
onto the 1.6 columns (serialNumber -> chargepoint_serial_number); the boot `reason` is only
announced in the event (and kept in the message log).
"""

from __future__ import annotations

from typing import Any

from services.registry.boot import register
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


def reported_columns(payload: Payload) -> dict[str, Any]:
    """chargepoint column -> value of a 2.0.1 BootNotificationRequest (None = not sent)."""
    station = payload.get("chargingStation") or {}
    modem = station.get("modem") or {}
    return {
        "chargepoint_vendor": station.get("vendorName"),
        "chargepoint_model": station.get("model"),
        "chargepoint_serial_number": station.get("serialNumber"),
        "firmware_version": station.get("firmwareVersion"),
        "iccid": modem.get("iccid"),
        "imsi": modem.get("imsi"),
    }


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Upsert the station's identity; answer Accepted / Pending / Rejected + interval."""
    announced = {
        "reason": env.payload.get("reason"),
        "chargingStation": env.payload.get("chargingStation"),
    }
    return await register(ctx, env, reported_columns(env.payload), announced)
