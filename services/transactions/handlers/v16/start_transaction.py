"""OCPP 1.6 StartTransaction: record the session, consume its reservation, give its id (§4.8).

A charge point with no `chargepoint` row must not lose its transaction to the foreign key:
`chargepoints.ensure_chargepoint` inserts the minimal row first (the one write of the
transactions service to the registry's table, services/transactions/README.md).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.transactions import idtags
from services.transactions.chargepoints import INITIAL_REGISTRATION_STATUS, ensure_chargepoint
from services.transactions.meter import parse_timestamp
from services.transactions.reservations import consume_reservation
from services.transactions.tables import TRANSACTION, message_key, payload_errors
from shared.db.models import Connector
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

log = logging.getLogger(__name__)

__all__ = ["INITIAL_REGISTRATION_STATUS", "ensure_chargepoint", "handle"]

# The natural key of a StartTransaction (uq_transaction_start): a charge point that repeats it
# after a lost answer sends the same content, and must get the same transactionId.
START_KEY = ("chargepoint_id", "connectorid", "start_transaction_timestamp", "id_tag")


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Insert the transaction once (idempotent), answer its id and the tag's IdTagInfo."""
    chargepoint_id = env.chargepoint_id or ""
    p = env.payload
    with payload_errors(env.action):
        connector_id = int(p["connectorId"])
        id_tag = str(p["idTag"])
        meter_start = int(p["meterStart"])
        started_at = parse_timestamp(p["timestamp"])
        raw_reservation = p.get("reservationId")
        reservation_id = int(raw_reservation) if raw_reservation is not None else None
    t = TRANSACTION.c
    connector_uuid = (
        select(Connector.uuid)
        .where(Connector.chargepoint_id == chargepoint_id, Connector.connectorid == connector_id)
        .scalar_subquery()
    )
    values: dict[str, Any] = {
        "chargepoint_id": chargepoint_id,
        "connectorid": connector_id,
        "connector_uuid": connector_uuid,
        "id_tag": id_tag,
        "wh_meter_start": meter_start,
        "wh_meter_last": meter_start,
        "wh_meter_last_at": started_at,
        "start_transaction_timestamp": started_at,
        "reservation_id": reservation_id,
        "status": idtags.ACTIVE,
        "start_message_id": message_key(chargepoint_id, env.correlation_id, env.unique_id),
    }
    await ensure_chargepoint(ctx, chargepoint_id)
    inserted = await ctx.session.execute(
        pg_insert(TRANSACTION)
        .values(values)
        .on_conflict_do_nothing(index_elements=list(START_KEY))
        .returning(t.transaction_id)
    )
    transaction_id = inserted.scalar_one_or_none()
    new = transaction_id is not None
    if transaction_id is None:
        # The same StartTransaction again (a retry after a lost answer, or this envelope
        # redelivered): the row exists, answer its id.
        transaction_id = (
            await ctx.session.execute(
                select(t.transaction_id).where(
                    t.chargepoint_id == chargepoint_id,
                    t.connectorid == connector_id,
                    t.start_transaction_timestamp == started_at,
                    t.id_tag == id_tag,
                )
            )
        ).scalar_one()
        log.info(
            "StartTransaction repeated: answering the existing transaction %s",
            transaction_id,
            extra={"transaction_id": transaction_id},
        )
    if reservation_id is not None and new:
        await consume_reservation(ctx, chargepoint_id, reservation_id, transaction_id)
    # OCPP 1.6 §4.8: the answer carries the tag's status; a charge point that started with a
    # tag now found invalid stops the transaction itself (StopTransactionOnInvalidId).
    info = await idtags.authorize(
        ctx.session, id_tag, now=ctx.now, excluding_transaction=transaction_id
    )
    ctx.emit(
        "transaction.started",
        {
            "transaction_id": transaction_id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "id_tag_status": info["status"],
            "meter_start": meter_start,
            "timestamp": idtags.format_datetime(started_at),
            "reservation_id": reservation_id,
            "repeated": not new,
        },
        chargepoint_id,
    )
    return {"transactionId": transaction_id, "idTagInfo": info}
