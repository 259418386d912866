"""NotifyReport (OCPP 2.0.1 B07/B08): the Actual values of a report become configuration keys.

Each reportData's Actual attribute (a variableAttribute without `type` is Actual) is upserted
into `chargepoint_configuration` under `config_key` (`Component.Variable`, with instances and
the EVSE when reported), `readonly` = mutability ReadOnly. Keys longer than the column (50)
are only in the message log. Other attribute types (Target, MinSet, MaxSet) and the
characteristics stay in the message log.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.queries import chargepoint_id_of, ensure_chargepoint
from shared.db.models import ChargePointConfiguration
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

log = logging.getLogger(__name__)

CONFIGURATION: Table = ChargePointConfiguration.__table__  # type: ignore[assignment]
KEY_LENGTH = 50
ACTUAL = "Actual"


def config_key(report: Payload) -> str:
    """`Component[:instance][@evse[/connector]].Variable[:instance]` of one reportData."""
    component = report.get("component") or {}
    variable = report.get("variable") or {}
    key = str(component.get("name", ""))
    if component.get("instance"):
        key += f":{component['instance']}"
    evse = component.get("evse")
    if isinstance(evse, dict) and "id" in evse:
        key += f"@{evse['id']}"
        if "connectorId" in evse:
            key += f"/{evse['connectorId']}"
    key += f".{variable.get('name', '')}"
    if variable.get("instance"):
        key += f":{variable['instance']}"
    return key


def configuration_rows(chargepoint_id: str, report_data: Any) -> list[dict[str, Any]]:
    """The `chargepoint_configuration` rows of a report's Actual values (one per key)."""
    rows: dict[str, dict[str, Any]] = {}
    for report in report_data or ():
        key = config_key(report)
        if len(key) > KEY_LENGTH:
            log.warning("NotifyReport key %r longer than %d: not stored", key, KEY_LENGTH)
            continue
        for attribute in report.get("variableAttribute") or ():
            if attribute.get("type", ACTUAL) != ACTUAL:
                continue
            value = attribute.get("value")
            rows[key] = {
                "chargepoint_id": chargepoint_id,
                "key": key,
                "value": None if value is None else str(value),
                "readonly": attribute.get("mutability") == "ReadOnly",
            }
    return list(rows.values())


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Upsert the reported Actual values; the gateway answered {}."""
    chargepoint_id = chargepoint_id_of(env)
    rows = configuration_rows(chargepoint_id, env.payload.get("reportData"))
    if not rows:
        return None
    await ensure_chargepoint(ctx, chargepoint_id)
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
    return None
