"""The end of an Active reservation: used by a starting transaction (1.6 StartTransaction, 2.0.1
TransactionEvent), cancelled (CancelReservation, 2.0.1 ReservationStatusUpdate Removed) or
expired (2.0.1 ReservationStatusUpdate Expired; the CSMS's own sweep of both versions is
reservation_expiry.py), each with its public event."""

from __future__ import annotations

import logging

from sqlalchemy import update

from services.transactions.tables import RESERVATION
from shared.dispatch import HandlerContext
from shared.events.projection import emit_public

log = logging.getLogger(__name__)


async def end_reservation(
    ctx: HandlerContext,
    chargepoint_id: str,
    reservation_id: int,
    *,
    status: str,
    event_type: str,
    transaction_id: int | None = None,
    source: str | None = None,
) -> bool:
    """The charge point's Active reservation `reservation_id` gets `status` (`Used`: by
    `transaction_id`), with the public event `event_type` written in the same transaction
    (`source`: who ended it, when the station did it itself). False if it has no Active
    reservation with that id (one already ended, e.g. expired by the CSMS's sweep
    reservation_expiry.py, keeps its state and gets no second event)."""
    r = RESERVATION.c
    values: dict[str, object] = {"status": status, "updated_at": ctx.now}
    if transaction_id is not None:
        values["transaction_id"] = transaction_id
    ended = (
        await ctx.session.execute(
            update(RESERVATION)
            .where(
                r.reservation_id == reservation_id,
                r.status == "Active",
                r.chargepoint_id == chargepoint_id,
            )
            .values(**values)
            .returning(r.connectorid, r.id_tag)
        )
    ).first()
    if ended is None:
        return False
    data: dict[str, object] = {
        "reservation_id": reservation_id,
        "connector_id": ended.connectorid,
        "id_tag": ended.id_tag,
    }
    if transaction_id is not None:
        data["transaction_id"] = transaction_id
    if source is not None:
        data["source"] = source
    emit_public(ctx, event_type, data, chargepoint_id, id_tag=ended.id_tag)
    return True


async def consume_reservation(
    ctx: HandlerContext,
    chargepoint_id: str,
    reservation_id: int,
    transaction_id: int,
    action: str = "StartTransaction",
) -> None:
    """Mark the charge point's Active reservation `reservation_id` Used by this transaction."""
    used = await end_reservation(
        ctx,
        chargepoint_id,
        reservation_id,
        status="Used",
        event_type="reservation.used",
        transaction_id=transaction_id,
    )
    if not used:
        log.warning(
            "%s names reservation %s, which is not an Active reservation of %s",
            action,
            reservation_id,
            chargepoint_id,
            extra={"reservation_id": reservation_id, "transaction_id": transaction_id},
        )
