"""SQL shared by the registry's handlers (SQLAlchemy Core on the batch's session)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.policy import clip, initial_registration_status
from shared.bus.errors import Reject
from shared.db.models import ChargePoint
from shared.dispatch import Handler, HandlerContext, Payload
from shared.envelope import Envelope

log = logging.getLogger(__name__)

chargepoint_table: Table = ChargePoint.__table__  # type: ignore[assignment]


def chargepoint_id_of(env: Envelope) -> str:
    """The charge point id of an envelope; an envelope without one is dead-lettered."""
    if not env.chargepoint_id:
        raise Reject(f"{env.action} envelope without chargepoint_id")
    return env.chargepoint_id


def clip_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every string value cut to its column's length.

    Real chargers send longer strings than the schemas allow; the gateway may let them
    through, and a value that does not fit must not fail the whole batch.
    """
    out: dict[str, Any] = {}
    for key, value in row.items():
        column = table.c[key]
        if isinstance(column.type, String) and isinstance(value, str):
            out[key] = clip(value, column.type.length)
        else:
            out[key] = value
    return out


def ocpp_datetime(moment: datetime) -> str:
    """An OCPP date-time string: UTC, milliseconds, `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def ensure_chargepoint(ctx: HandlerContext, chargepoint_id: str) -> None:
    """Create the charge point row if this id was never seen (its facts reference it).

    Many charge points do not boot again on a reconnect, and an unknown one may report
    status before its boot; the row is created as CSMS_UNKNOWN_CHARGEPOINTS says.
    """
    await ctx.session.execute(
        pg_insert(chargepoint_table)
        .values(
            chargepoint_id=chargepoint_id,
            registration_status=initial_registration_status(ctx.settings.unknown_chargepoints),
        )
        .on_conflict_do_nothing(index_elements=["chargepoint_id"])
    )


async def set_latest_status(
    ctx: HandlerContext,
    chargepoint_id: str,
    column_name: str,
    status: object,
    allowed: tuple[str, ...],
) -> str | None:
    """Keep `status` as the charge point's latest `column_name`; the previous value.

    These reports carry no timestamp; a charge point sends them one at a time, minutes
    apart, so the last one consumed is the latest. A value outside `allowed` (the column's
    CHECK) is logged and only kept in the message log.
    """
    if not isinstance(status, str) or status not in allowed:
        log.warning("%s %r not in %s: not applied", column_name, status, allowed)
        return None
    await ensure_chargepoint(ctx, chargepoint_id)
    column = chargepoint_table.c[column_name]
    previous = (
        await ctx.session.execute(
            select(column)
            .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
            .with_for_update()
        )
    ).scalar_one()
    await ctx.session.execute(
        update(chargepoint_table)
        .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
        .values({column_name: status})
    )
    return previous if isinstance(previous, str) else None


def latest_status_handler(column_name: str, allowed: tuple[str, ...], event_name: str) -> Handler:
    """A handler that keeps a reported status as the charge point's latest `column_name`.

    The history is the message log; the gateway answered `{}` itself. The event carries the
    status, the previous one and the requestId of the security extension's messages.
    """

    async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
        chargepoint_id = chargepoint_id_of(env)
        status = env.payload.get("status")
        previous = await set_latest_status(ctx, chargepoint_id, column_name, status, allowed)
        event: Payload = {"status": status, "previousStatus": previous}
        if "requestId" in env.payload:
            event["requestId"] = env.payload["requestId"]
        ctx.emit(event_name, event, chargepoint_id)
        return None

    return handle
