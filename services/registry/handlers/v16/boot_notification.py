"""BootNotification (OCPP 1.6 §4.2): register or update the charge point, answer its status."""

from __future__ import annotations

from typing import Any

from services.registry.boot import register
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp import dump_payload
from shared.ocpp.v16.boot_notification_request import BootNotificationRequest
from shared.ocpp.v16.boot_notification_response import BootNotificationResponse
from shared.ocpp.v16.common import RegistrationStatus


def reported_columns(req: BootNotificationRequest) -> dict[str, Any]:
    """chargepoint column -> value of a 1.6 BootNotification.req (None = not sent)."""
    return {
        "chargepoint_vendor": req.charge_point_vendor,
        "chargepoint_model": req.charge_point_model,
        "chargepoint_serial_number": req.charge_point_serial_number,
        "chargebox_serial_number": req.charge_box_serial_number,
        "firmware_version": req.firmware_version,
        "iccid": req.iccid,
        "imsi": req.imsi,
        "meter_type": req.meter_type,
        "meter_serial_number": req.meter_serial_number,
    }


async def handle(
    ctx: HandlerContext, env: Envelope, req: BootNotificationRequest
) -> BootNotificationResponse:
    """Upsert the charge point's identity; answer Accepted / Pending / Rejected + interval."""
    status = await register(ctx, env, reported_columns(req), dump_payload(req))
    return BootNotificationResponse(
        status=RegistrationStatus(status),
        current_time=ctx.now,
        interval=ctx.settings.heartbeat_interval,
    )
