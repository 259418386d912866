"""BootNotification (OCPP 2.0.1 B01-B04): the same registration as 1.6, 2.0.1 field names.

chargingStation {model, vendorName, serialNumber, firmwareVersion, modem {iccid, imsi}} maps
onto the 1.6 columns (serialNumber -> chargepoint_serial_number); the boot `reason` is only
announced in the event (and kept in the message log).
"""

from __future__ import annotations

from typing import Any

from services.registry.boot import register
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp import dump_payload
from shared.ocpp.v201.boot_notification_request import BootNotificationRequest
from shared.ocpp.v201.boot_notification_response import BootNotificationResponse
from shared.ocpp.v201.common import RegistrationStatusEnumType


def reported_columns(req: BootNotificationRequest) -> dict[str, Any]:
    """chargepoint column -> value of a 2.0.1 BootNotificationRequest (None = not sent)."""
    station = req.charging_station
    modem = station.modem
    return {
        "chargepoint_vendor": station.vendor_name,
        "chargepoint_model": station.model,
        "chargepoint_serial_number": station.serial_number,
        "firmware_version": station.firmware_version,
        "iccid": modem.iccid if modem is not None else None,
        "imsi": modem.imsi if modem is not None else None,
    }


async def handle(
    ctx: HandlerContext, env: Envelope, req: BootNotificationRequest
) -> BootNotificationResponse:
    """Upsert the station's identity; answer Accepted / Pending / Rejected + interval."""
    announced = {
        "reason": req.reason.value,
        "chargingStation": dump_payload(req.charging_station),
    }
    status = await register(ctx, env, reported_columns(req), announced)
    return BootNotificationResponse(
        status=RegistrationStatusEnumType(status),
        current_time=ctx.now,
        interval=ctx.settings.heartbeat_interval,
    )
