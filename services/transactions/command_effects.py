"""Effects of commands on reservations, from the command log (the outbox): on each
`command.completed` / `command.effects_due` nudge, the completed commands of the charge point
not applied yet, in `seq` order (shared/command_outbox.py), on `csms.transactions.command-effects`.

- ReserveNow Accepted -> a reservation row: charge point, connectorid, the connector row
  when there is one (`connector_uuid`; NULL for connectorId 0 = any connector of the charge
  point, OCPP 1.6 §5.13, or for a connector not reported yet), id tag, parent id tag, expiry,
  status Active (Expired at once when the expiry has already passed). OCPP 1.6 §5.13: a
  ReserveNow with the reservationId of an existing reservation replaces it; here only a
  reservation of the same charge point that is still Active is replaced: cancelled, expired
  and used reservations keep their state. Reservation ids are the sender's choice, so they
  are unique per charge point: another charge point's reservation with the same id is
  another reservation.
- CancelReservation Accepted -> the Active reservation with that id of that charge point
  becomes Cancelled.
- RemoteStartTransaction / RemoteStopTransaction: no effect here; the charge point's own
  StartTransaction / StopTransaction record the transaction.

The 2.0.1 commands' effects are in command_effects_v201.py (same consumer, same cursor).

A ReserveNow for a charge point without a `chargepoint` row (the API sends commands only to
connected charge points, so the registry has created it) is logged and not recorded: the row
belongs to the registry.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.transactions.reservations import end_reservation
from services.transactions.tables import RESERVATION
from shared.command_outbox import Effect, effect_routes
from shared.db.models import ChargePoint, Connector
from shared.dispatch import HandlerContext, Route
from shared.events.projection import emit_public

log = logging.getLogger(__name__)

ID_TAG_LENGTH = 255


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


async def reserve_now(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Accepted -> the reservation, Active (or Expired if its expiry is past)."""
    if response.get("status") != "Accepted":
        return
    connector_id = request.get("connectorId")
    reservation_id = request.get("reservationId")
    id_tag = request.get("idTag")
    expiry = _datetime(request.get("expiryDate"))
    parent = request.get("parentIdTag")
    if (
        not isinstance(connector_id, int)
        or not isinstance(reservation_id, int)
        or not isinstance(id_tag, str)
        or expiry is None
    ):
        log.warning("ReserveNow request not readable: %r; not recorded", request)
        return
    await record_reservation(
        ctx,
        chargepoint_id,
        connector_id=connector_id,
        reservation_id=reservation_id,
        id_tag=id_tag,
        parent_id_tag=parent if isinstance(parent, str) else None,
        expiry=expiry,
    )


async def record_reservation(
    ctx: HandlerContext,
    chargepoint_id: str,
    *,
    connector_id: int,
    reservation_id: int,
    id_tag: str,
    parent_id_tag: str | None,
    expiry: datetime,
) -> None:
    """An accepted reservation (connector 0: any), Active or Expired; an Active one with the
    same id on the charge point is replaced."""
    parent = parent_id_tag
    if connector_id < 0:
        log.warning("ReserveNow with connectorId %d: not recorded", connector_id)
        return
    known = await ctx.session.scalar(
        select(ChargePoint.chargepoint_id).where(ChargePoint.chargepoint_id == chargepoint_id)
    )
    if known is None:
        log.warning(
            "reservation %d of unknown charge point %s: not recorded",
            reservation_id,
            chargepoint_id,
        )
        return
    connector_uuid = None
    if connector_id > 0:
        connector_uuid = await ctx.session.scalar(
            select(Connector.uuid).where(
                Connector.chargepoint_id == chargepoint_id, Connector.connectorid == connector_id
            )
        )
    values = {
        "chargepoint_id": chargepoint_id,
        "connectorid": connector_id,
        "connector_uuid": connector_uuid,
        "reservation_id": reservation_id,
        "expiry_date": expiry,
        "id_tag": id_tag[:ID_TAG_LENGTH],
        "parent_id_tag": parent[:ID_TAG_LENGTH] if isinstance(parent, str) else None,
        "status": "Active" if expiry > ctx.now else "Expired",
    }
    stmt = pg_insert(RESERVATION).values(values)
    stored = await ctx.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["chargepoint_id", "reservation_id"],
            set_={
                **{
                    k: stmt.excluded[k]
                    for k in values
                    if k not in ("chargepoint_id", "reservation_id")
                },
                "updated_at": func.now(),
            },
            where=RESERVATION.c.status == "Active",
        ).returning(RESERVATION.c.reservation_id)
    )
    if stored.first() is not None:
        emit_public(
            ctx,
            "reservation.created",
            {
                "reservation_id": reservation_id,
                "connector_id": connector_id,
                "id_tag": id_tag[:ID_TAG_LENGTH],
                "expiry_date": expiry.isoformat().replace("+00:00", "Z"),
                "status": values["status"],
            },
            chargepoint_id,
            id_tag=id_tag[:ID_TAG_LENGTH],
        )


async def cancel_reservation(
    ctx: HandlerContext, chargepoint_id: str, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """Accepted -> the Active reservation of this charge point becomes Cancelled."""
    reservation_id = request.get("reservationId")
    if response.get("status") != "Accepted" or not isinstance(reservation_id, int):
        return
    await cancel(ctx, chargepoint_id, reservation_id)


async def cancel(ctx: HandlerContext, chargepoint_id: str, reservation_id: int) -> None:
    """The Active reservation `reservation_id` of this charge point becomes Cancelled."""
    await end_reservation(
        ctx, chargepoint_id, reservation_id, status="Cancelled", event_type="reservation.cancelled"
    )


EFFECTS: dict[str, Effect] = {
    "ReserveNow": reserve_now,
    "CancelReservation": cancel_reservation,
}
"""Action -> effect of its CALLRESULT (other outcomes change nothing)."""


CONSUMER = "transactions"
"""This service's cursors in `command_effect_cursor`."""

from services.transactions import command_effects_v201  # noqa: E402 - it uses the helpers above

ROUTES: list[Route[Any]] = effect_routes(CONSUMER, EFFECTS, command_effects_v201.EFFECTS)
"""Add to the transactions service's route table (consumed on its `command-effects` queue)."""
