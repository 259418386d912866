"""NotifyMonitoringReport (OCPP 2.0.1 N02, after GetMonitoringReport): one part of a
monitoring report. The part is stored once (requestId, seqNo); its monitors are upserted by
their id with their component and variable (services/registry/device_model.py). The part
that completes an unfiltered report asked by GetMonitoringReport removes the monitors it did
not list (device_model.sweep_report)."""

from __future__ import annotations

from services.registry.device_model import (
    MonitorWrite,
    sweep_report,
    variable_key,
    write_monitors,
)
from services.registry.handlers.v201.reports import require_seq_no, store_part
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.notify_monitoring_report_request import NotifyMonitoringReportRequest

KIND = "NotifyMonitoringReport"


async def handle(ctx: HandlerContext, env: Envelope, req: NotifyMonitoringReportRequest) -> None:
    """Store the part and its monitors (once); the gateway answered {}."""
    require_seq_no(req.seq_no)
    data = req.monitor or []
    stored = await store_part(
        ctx,
        env,
        req,
        kind=KIND,
        request_id=req.request_id,
        seq_no=req.seq_no,
        tbc=req.tbc,
        generated_at=req.generated_at,
        items=sum(len(d.variable_monitoring) for d in data),
    )
    if not stored:
        return
    monitors = [
        MonitorWrite(
            variable=variable_key(d.component, d.variable),
            monitor_id=m.id,
            transaction=m.transaction,
            value=m.value,
            type=m.type.value,
            severity=m.severity,
        )
        for d in data
        for m in d.variable_monitoring
    ]
    await write_monitors(ctx.session, ctx.chargepoint_id, monitors, ctx.now)
    if stored.completed:
        await sweep_report(
            ctx.session, ctx.chargepoint_id, kind=KIND, request_id=req.request_id, now=ctx.now
        )
