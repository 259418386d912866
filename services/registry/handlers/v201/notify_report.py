"""NotifyReport (OCPP 2.0.1 B07/B08): the Actual values of a report become configuration keys.

Each reportData's Actual attribute (a variableAttribute without `type` is Actual) is upserted
into `chargepoint_configuration` under `config_key` (`Component.Variable`, with instances and
the EVSE when reported), `readonly` = mutability ReadOnly. Keys longer than the column (50)
are only in the message log. Other attribute types (Target, MinSet, MaxSet) and the
characteristics stay in the message log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.queries import create_chargepoint_if_unknown
from shared.db.models import ChargePointConfiguration
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.common import AttributeEnumType, MutabilityEnumType, ReportDataType
from shared.ocpp.v201.notify_report_request import NotifyReportRequest

log = logging.getLogger(__name__)

CONFIGURATION: Table = ChargePointConfiguration.__table__  # type: ignore[assignment]
KEY_LENGTH = 50


def config_key(report: ReportDataType) -> str:
    """`Component[:instance][@evse[/connector]].Variable[:instance]` of one reportData."""
    component, variable = report.component, report.variable
    key = component.name
    if component.instance:
        key += f":{component.instance}"
    evse = component.evse
    if evse is not None:
        key += f"@{evse.id}"
        if evse.connector_id is not None:
            key += f"/{evse.connector_id}"
    key += f".{variable.name}"
    if variable.instance:
        key += f":{variable.instance}"
    return key


def configuration_rows(
    chargepoint_id: str, report_data: Sequence[ReportDataType] | None
) -> list[dict[str, Any]]:
    """The `chargepoint_configuration` rows of a report's Actual values (one per key)."""
    rows: dict[str, dict[str, Any]] = {}
    for report in report_data or ():
        key = config_key(report)
        if len(key) > KEY_LENGTH:
            log.warning("NotifyReport key %r longer than %d: not stored", key, KEY_LENGTH)
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


async def handle(ctx: HandlerContext, env: Envelope, req: NotifyReportRequest) -> None:
    """Upsert the reported Actual values; the gateway answered {}."""
    rows = configuration_rows(ctx.chargepoint_id, req.report_data)
    if not rows:
        return
    await create_chargepoint_if_unknown(ctx, ctx.chargepoint_id)
    for row in rows:
        row["updated_at"] = ctx.now
    stmt = pg_insert(CONFIGURATION).values(rows)
    await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["chargepoint_id", "key"],
            set_={
                "value": stmt.excluded.value,
                "readonly": stmt.excluded.readonly,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )
