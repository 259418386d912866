"""NotifyReport (OCPP 2.0.1 B07/B08): one part of a report, into the device model.

Each part is stored once (device_report_part, keyed by requestId and seqNo: a resend of the
same part writes nothing again) and counted on its report (device_report: `Complete` once
every part up to the one with `tbc` false has arrived). Its reportData are upserted into the
device model (services/registry/device_model.py): the component and variable, their
characteristics, and every attribute (Actual, Target, MinSet, MaxSet) with value,
mutability, persistent and constant. The part that completes a report asked by GetBaseReport
FullInventory (or ConfigurationInventory) removes what the report did not list
(device_model.sweep_report).

The Actual values are also kept in `chargepoint_configuration` under `config_key`
(`Component[:instance][@evse[/connector]].Variable[:instance]`, readonly = mutability
ReadOnly), the flat view 1.6 and 2.0.1 stations share; keys longer than the column (50) are
only in the device model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.device_model import (
    AttributeWrite,
    characteristics_row,
    flat_key,
    sweep_report,
    variable_key,
)
from services.registry.device_model import write_attributes as write_device_attributes
from services.registry.handlers.v201.reports import require_seq_no, store_part
from shared.db.models import ChargePointConfiguration
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.common import AttributeEnumType, MutabilityEnumType, ReportDataType
from shared.ocpp.v201.notify_report_request import NotifyReportRequest

log = logging.getLogger(__name__)

CONFIGURATION: Table = ChargePointConfiguration.__table__  # type: ignore[assignment]
KEY_LENGTH = 50
KIND = "NotifyReport"


def _configuration_upsert() -> Any:
    stmt = pg_insert(CONFIGURATION)
    return stmt.on_conflict_do_update(
        index_elements=["chargepoint_id", "key"],
        set_={
            "value": stmt.excluded.value,
            "readonly": stmt.excluded.readonly,
            "updated_at": stmt.excluded.updated_at,
        },
    )


CONFIGURATION_UPSERT = _configuration_upsert()
"""Built once, executed with the part's rows."""


def config_key(report: ReportDataType) -> str:
    """`Component[:instance][@evse[/connector]].Variable[:instance]` of one reportData."""
    return flat_key(variable_key(report.component, report.variable))


def configuration_rows(
    chargepoint_id: str, report_data: Sequence[ReportDataType] | None
) -> list[dict[str, Any]]:
    """The `chargepoint_configuration` rows of a report's Actual values (one per key)."""
    rows: dict[str, dict[str, Any]] = {}
    for report in report_data or ():
        key = config_key(report)
        if len(key) > KEY_LENGTH:
            log.debug("NotifyReport key %r longer than %d: device model only", key, KEY_LENGTH)
            continue
        for attribute in report.variable_attribute:
            if (attribute.type or AttributeEnumType.actual) is not AttributeEnumType.actual:
                continue
            rows[key] = {
                "chargepoint_id": chargepoint_id,
                "key": key,
                "value": attribute.value,
                "readonly": attribute.mutability is MutabilityEnumType.read_only,
            }
    return list(rows.values())


def attribute_writes(report_data: Sequence[ReportDataType] | None) -> list[AttributeWrite]:
    """Every reported attribute, as the device model stores it."""
    writes = []
    for report in report_data or ():
        key = variable_key(report.component, report.variable)
        for attribute in report.variable_attribute:
            writes.append(
                AttributeWrite(
                    variable=key,
                    type=(attribute.type or AttributeEnumType.actual).value,
                    value=attribute.value,
                    mutability=attribute.mutability.value if attribute.mutability else None,
                    persistent=attribute.persistent,
                    constant=attribute.constant,
                )
            )
    return writes


async def handle(ctx: HandlerContext, env: Envelope, req: NotifyReportRequest) -> None:
    """Store the part and its data (once); the gateway answered {}."""
    require_seq_no(req.seq_no)
    data = req.report_data or []
    stored = await store_part(
        ctx,
        env,
        req,
        kind=KIND,
        request_id=req.request_id,
        seq_no=req.seq_no,
        tbc=req.tbc,
        generated_at=req.generated_at,
        items=len(data),
    )
    if stored and data:
        await write_data(ctx, data)
    if stored.completed:
        await sweep_report(
            ctx.session, ctx.chargepoint_id, kind=KIND, request_id=req.request_id, now=ctx.now
        )


async def write_data(ctx: HandlerContext, data: list[ReportDataType]) -> None:
    """The part's reportData into the device model and the flat configuration view."""
    await write_device_attributes(
        ctx.session,
        ctx.chargepoint_id,
        attribute_writes(data),
        ctx.now,
        characteristics={
            variable_key(r.component, r.variable): characteristics_row(r.variable_characteristics)
            for r in data
            if r.variable_characteristics is not None
        },
    )
    rows = configuration_rows(ctx.chargepoint_id, data)
    if not rows:
        return
    for row in rows:
        row["updated_at"] = ctx.now
    await ctx.session.execute(CONFIGURATION_UPSERT, rows)
