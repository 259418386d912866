"""Effects of commands on what the registry owns, from the command log (the outbox).

The API commits each command's outcome with a per-charge-point `seq`, then publishes
`command.completed` (shared/command_outbox.py). On that nudge (or the sweeper's
`command.effects_due`) the registry applies, in `seq` order, the effects of the charge
point's completed commands it has not applied yet, from the committed request and answer
(camelCase), on its queue `csms.registry.command-effects`:

- ChangeAvailability Accepted -> connector availability_status = the requested type
  (connectorId 0 = every connector of the charge point); Scheduled -> `Scheduled` (OCPP 1.6
  §5.2: the change happens when the running transaction ends). The requested type is not
  stored: handlers/v16/status_notification.py resolves `Scheduled` from the next applied
  status (Unavailable -> Inoperative, Available -> Operative; others keep it Scheduled).
- ChangeConfiguration Accepted / RebootRequired -> the key's value (chargepoint_configuration).
- GetConfiguration result -> every reported configurationKey (value, readonly); keys the charge
  point lists in unknownKey are forgotten.
- SendLocalList Accepted -> chargepoint.local_list_version = the sent listVersion;
  GetLocalListVersion result -> the version the charge point reports.

The 2.0.1 commands' effects are in command_effects_v201.py (same consumer, same cursor).

Each command's effect is applied once (the consumer's cursor moves in the same
transaction), in the order the outcomes were committed; the registry's batch locks
(locking.py) take the charge point and its connectors first.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry import certificate_effects
from services.registry.local_list import apply_local_list, entries_16
from shared.command_outbox import Effect, effect_routes
from shared.db.models import ChargePoint, ChargePointConfiguration, Connector
from shared.dispatch import HandlerContext, Route

log = logging.getLogger(__name__)

CHARGEPOINT: Table = ChargePoint.__table__  # type: ignore[assignment]
CONNECTOR: Table = Connector.__table__  # type: ignore[assignment]
CONFIGURATION: Table = ChargePointConfiguration.__table__  # type: ignore[assignment]

AVAILABILITY_TYPES = ("Operative", "Inoperative")
CONFIG_KEY_LENGTH = 50


async def _exists(ctx: HandlerContext, chargepoint_id: str) -> bool:
    found = await ctx.session.scalar(
        select(CHARGEPOINT.c.chargepoint_id).where(CHARGEPOINT.c.chargepoint_id == chargepoint_id)
    )
    return found is not None


async def change_availability(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Accepted -> the requested type; Scheduled -> `Scheduled`; Rejected -> nothing."""
    status = response.get("status")
    kind = request.get("type")
    connector_id = request.get("connectorId")
    if status == "Accepted" and kind in AVAILABILITY_TYPES:
        availability = str(kind)
    elif status == "Scheduled":
        availability = "Scheduled"
    else:
        return
    if not isinstance(connector_id, int) or connector_id < 0:
        log.warning("ChangeAvailability with connectorId %r: not applied", connector_id)
        return
    await apply_availability(ctx, chargepoint_id, connector_id, availability)


async def apply_availability(
    ctx: HandlerContext, chargepoint_id: str, connector_id: int, availability: str
) -> None:
    """`availability` on one connector row (0: every connector of the charge point)."""
    if connector_id == 0:
        # OCPP 1.6 §5.2: connectorId 0 is the charge point with all its connectors.
        await ctx.session.execute(
            update(CONNECTOR)
            .where(CONNECTOR.c.chargepoint_id == chargepoint_id)
            .values(availability_status=availability)
        )
        return
    if not await _exists(ctx, chargepoint_id):
        log.warning("ChangeAvailability for unknown charge point %s: not applied", chargepoint_id)
        return
    # A connector not reported yet is created (the registry writes connectors).
    await ctx.session.execute(
        pg_insert(CONNECTOR)
        .values(
            chargepoint_id=chargepoint_id,
            connectorid=connector_id,
            availability_status=availability,
        )
        .on_conflict_do_update(
            index_elements=["chargepoint_id", "connectorid"],
            set_={"availability_status": availability},
        )
    )


async def upsert_keys(
    ctx: HandlerContext, chargepoint_id: str, rows: list[dict[str, Any]], *, readonly_known: bool
) -> None:
    """Upsert `chargepoint_configuration` rows (`readonly` only when `readonly_known`)."""
    if not rows or not await _exists(ctx, chargepoint_id):
        return
    stmt = pg_insert(CONFIGURATION).values(rows)
    set_ = {"value": stmt.excluded.value}
    if readonly_known:
        set_["readonly"] = stmt.excluded.readonly
    await ctx.session.execute(
        stmt.on_conflict_do_update(index_elements=["chargepoint_id", "key"], set_=set_)
    )


async def change_configuration(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Accepted / RebootRequired -> the key holds the sent value (and is not read-only)."""
    if response.get("status") not in ("Accepted", "RebootRequired"):
        return
    key, value = request.get("key"), request.get("value")
    if not isinstance(key, str) or not isinstance(value, str):
        return
    if len(key) > CONFIG_KEY_LENGTH:
        log.warning("configuration key %r longer than %d: not stored", key, CONFIG_KEY_LENGTH)
        return
    row = {"chargepoint_id": chargepoint_id, "key": key, "value": value, "readonly": False}
    await upsert_keys(ctx, chargepoint_id, [row], readonly_known=True)


async def get_configuration(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Every reported key (value, readonly); keys reported unknown are forgotten."""
    rows: dict[str, dict[str, Any]] = {}
    for item in response.get("configurationKey") or []:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        key: str = item["key"]
        if len(key) > CONFIG_KEY_LENGTH:
            log.warning("configuration key %r longer than %d: not stored", key, CONFIG_KEY_LENGTH)
            continue
        value = item.get("value")
        readonly = item.get("readonly")
        rows[key] = {
            "chargepoint_id": chargepoint_id,
            "key": key,
            "value": value if isinstance(value, str) else None,
            "readonly": readonly if isinstance(readonly, bool) else None,
        }
    await upsert_keys(ctx, chargepoint_id, list(rows.values()), readonly_known=True)
    unknown = [k for k in response.get("unknownKey") or [] if isinstance(k, str)]
    if unknown:
        await ctx.session.execute(
            delete(CONFIGURATION).where(
                CONFIGURATION.c.chargepoint_id == chargepoint_id, CONFIGURATION.c.key.in_(unknown)
            )
        )


async def set_list_version(ctx: HandlerContext, chargepoint_id: str, version: object) -> None:
    """`chargepoint.local_list_version` = `version` (an int; anything else is ignored)."""
    if not isinstance(version, int) or isinstance(version, bool):
        return
    await ctx.session.execute(
        update(CHARGEPOINT)
        .where(CHARGEPOINT.c.chargepoint_id == chargepoint_id)
        .values(local_list_version=version)
    )


async def send_local_list(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Accepted -> the charge point now holds list version `listVersion` and its entries
    (local_list.py)."""
    if response.get("status") == "Accepted":
        version = request.get("listVersion")
        await set_list_version(ctx, chargepoint_id, version)
        if isinstance(version, int):
            await apply_local_list(
                ctx,
                chargepoint_id,
                update_type=str(request.get("updateType")),
                version=version,
                entries=entries_16(request),
            )


async def get_local_list_version(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """The version the charge point reports (OCPP 1.6 §5.10: 0 empty, -1 unsupported)."""
    await set_list_version(ctx, chargepoint_id, response.get("listVersion"))


EFFECTS: dict[str, Effect] = {
    "ChangeAvailability": change_availability,
    "ChangeConfiguration": change_configuration,
    "GetConfiguration": get_configuration,
    "SendLocalList": send_local_list,
    "GetLocalListVersion": get_local_list_version,
    **certificate_effects.EFFECTS_16,
}
"""Action -> effect of its CALLRESULT (other outcomes change nothing)."""


CONSUMER = "registry"
"""This service's cursors in `command_effect_cursor`."""

from services.registry import command_effects_v201  # noqa: E402 - it uses the helpers above

ROUTES: list[Route[Any]] = effect_routes(CONSUMER, EFFECTS, command_effects_v201.EFFECTS)
"""Add to the registry's route table (consumed on `csms.registry.command-effects`)."""
