"""OCPP 1.6 StartTransaction: record the session, consume its reservation, give its id (§4.8).

A new transaction closes the connector's previous open one (Superseded, closing.py); a start
answered other than Accepted is recorded `Rejected` (its `authorization_status` says why).

A charge point with no `chargepoint` row must not lose its transaction to the foreign key:
`create_chargepoint_if_unknown` (shared/chargepoints.py) inserts the minimal row first (the
one write of the transactions service to the registry's table,
services/transactions/README.md).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from ocpp.v16.enums import AuthorizationStatus
from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.transactions import idtags
from services.transactions.closing import supersede
from services.transactions.reservations import consume_reservation
from services.transactions.tables import TRANSACTION, message_key
from shared.chargepoints import create_chargepoint_if_unknown
from shared.db.enums import TX_ACTIVE, TX_REJECTED
from shared.db.models import Connector
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.event_names import TRANSACTION_STARTED
from shared.ocpp import format_datetime
from shared.ocpp.v16.common import IdTagInfo
from shared.ocpp.v16.start_transaction_request import StartTransactionRequest
from shared.ocpp.v16.start_transaction_response import StartTransactionResponse
from shared.txevents import wh_number

log = logging.getLogger(__name__)

# The natural key of a StartTransaction (uq_transaction_start): a charge point that repeats it
# after a lost answer sends the same content, and must get the same transactionId.
START_KEY = ("chargepoint_id", "connectorid", "start_transaction_timestamp", "id_tag")


async def handle(
    ctx: HandlerContext, env: Envelope, req: StartTransactionRequest
) -> StartTransactionResponse:
    """Insert the transaction once (idempotent), answer its id and the tag's IdTagInfo."""
    chargepoint_id = ctx.chargepoint_id
    connector_id, id_tag = req.connector_id, req.id_tag
    meter_start = Decimal(req.meter_start)
    started_at, reservation_id = req.timestamp, req.reservation_id
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
        "status": TX_ACTIVE,
        "start_message_id": message_key(chargepoint_id, env.correlation_id, env.unique_id),
    }
    await create_chargepoint_if_unknown(ctx, chargepoint_id)
    inserted = await ctx.session.execute(
        pg_insert(TRANSACTION)
        .values(values)
        .on_conflict_do_nothing(index_elements=list(START_KEY))
        .returning(t.transaction_id)
    )
    transaction_id = inserted.scalar_one_or_none()
    new = transaction_id is not None
    if transaction_id is not None:
        info, status = await _first_start(ctx, chargepoint_id, connector_id, id_tag, transaction_id)
        if reservation_id is not None:
            await consume_reservation(ctx, chargepoint_id, reservation_id, transaction_id)
    else:
        # The same StartTransaction again (a retry after a lost answer, or this envelope
        # redelivered): the row exists, answer its id and the status the first one got.
        row = (
            await ctx.session.execute(
                select(t.transaction_id, t.status, t.authorization_status).where(
                    t.chargepoint_id == chargepoint_id,
                    t.connectorid == connector_id,
                    t.start_transaction_timestamp == started_at,
                    t.id_tag == id_tag,
                )
            )
        ).one()
        transaction_id, status = row.transaction_id, row.status
        log.info(
            "StartTransaction repeated: answering the existing transaction %s",
            transaction_id,
            extra={"transaction_id": transaction_id},
        )
        info = idtags.with_status(
            await idtags.authorize(
                ctx.session, id_tag, now=ctx.now, excluding_transaction=transaction_id
            ),
            row.authorization_status,
        )
    ctx.emit(
        TRANSACTION_STARTED,
        {
            "transaction_id": transaction_id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "id_tag_status": info["status"],
            "status": status,
            "meter_start": wh_number(meter_start),
            "timestamp": format_datetime(started_at),
            "reservation_id": reservation_id,
            "repeated": not new,
        },
        chargepoint_id,
    )
    return StartTransactionResponse(
        transaction_id=transaction_id, id_tag_info=IdTagInfo.model_validate(info)
    )


async def _first_start(
    ctx: HandlerContext, chargepoint_id: str, connector_id: int, id_tag: str, transaction_id: int
) -> tuple[dict[str, Any], str]:
    """A new transaction: it supersedes the connector's open one, then the tag is decided.

    The old transaction of the connector is closed first, so that a driver who starts again
    on the connector of the transaction a reboot cut off is not refused for it.
    OCPP 1.6 §4.8: the answer carries the tag's status; a charge point that started with a
    tag now found invalid stops the transaction itself (StopTransactionOnInvalidId), but not
    always: a start answered other than Accepted is recorded `Rejected` with that status and
    never counts as open.
    """
    await supersede(ctx, chargepoint_id, connector_id, transaction_id)
    info = await idtags.authorize(
        ctx.session, id_tag, now=ctx.now, excluding_transaction=transaction_id
    )
    t = TRANSACTION.c
    rejected = info["status"] != AuthorizationStatus.accepted.value
    status = (
        await ctx.session.execute(
            update(TRANSACTION)
            .where(t.transaction_id == transaction_id)
            .values(
                authorization_status=info["status"],
                status=case(
                    (t.status == TX_ACTIVE, TX_REJECTED if rejected else TX_ACTIVE),
                    else_=t.status,
                ),
            )
            .returning(t.status)
        )
    ).scalar_one()
    if rejected:
        log.info(
            "StartTransaction %s answered %s: recorded Rejected",
            transaction_id,
            info["status"],
            extra={"transaction_id": transaction_id},
        )
    return info, str(status)
