"""A reservation used by a starting transaction (1.6 StartTransaction, 2.0.1 TransactionEvent)."""

from __future__ import annotations

import logging

from sqlalchemy import update

from services.transactions.tables import RESERVATION
from shared.dispatch import HandlerContext
from shared.events.projection import emit_public

log = logging.getLogger(__name__)


async def consume_reservation(
    ctx: HandlerContext,
    chargepoint_id: str,
    reservation_id: int,
    transaction_id: int,
    action: str = "StartTransaction",
) -> None:
    """Mark the charge point's Active reservation `reservation_id` Used by this transaction."""
    r = RESERVATION.c
    result = await ctx.session.execute(
        update(RESERVATION)
        .where(
            r.reservation_id == reservation_id,
            r.status == "Active",
            r.chargepoint_id == chargepoint_id,
        )
        .values(status="Used", transaction_id=transaction_id, updated_at=ctx.now)
        .returning(r.reservation_id, r.connectorid, r.id_tag)
    )
    used = result.first()
    if used is not None:
        data = {
            "reservation_id": reservation_id,
            "connector_id": used.connectorid,
            "id_tag": used.id_tag,
            "transaction_id": transaction_id,
        }
        emit_public(ctx, "reservation.used", data, chargepoint_id, id_tag=used.id_tag)
    else:
        log.warning(
            "%s names reservation %s, which is not an Active reservation of %s",
            action,
            reservation_id,
            chargepoint_id,
            extra={"reservation_id": reservation_id, "transaction_id": transaction_id},
        )
