"""NotifyEvent (OCPP 2.0.1 N07): monitoring events; the message log row is the record.

An event raised by a monitor (`variableMonitoringId`) says where that monitor comes from
(`eventNotificationType` HardWiredMonitor / PreconfiguredMonitor / CustomMonitor): kept on
the stored monitor (`device_monitor.origin`), which SetMonitoringBase needs
(device_model.apply_monitoring_base)."""

from __future__ import annotations

from services.registry.device_model import set_monitor_origins
from shared.db.enums import MONITOR_ORIGINS
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.notify_event_request import NotifyEventRequest


async def handle(ctx: HandlerContext, env: Envelope, req: NotifyEventRequest) -> None:
    """The origins of the monitors that raised the events; the gateway answered {}."""
    origins = {
        event.variable_monitoring_id: event.event_notification_type.value
        for event in req.event_data
        if event.variable_monitoring_id is not None
        and event.event_notification_type.value in MONITOR_ORIGINS
    }
    if origins:
        await set_monitor_origins(ctx.session, ctx.chargepoint_id, origins)
