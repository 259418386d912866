"""OCPP 1.6 StopTransaction (§4.10): close the session, store transactionData, never refuse.

Never answered ConcurrentTx: the idTagInfo describes the tag, not its other transactions.
A stop for a transaction the CSMS closed itself (Superseded, Stale, Rebooted) or an operator
closed (Administrative) is a correction: its values replace the estimate (closing.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocpp.v16.enums import Reason
from sqlalchemy import Row, select, update

from services.transactions import idtags
from services.transactions.closing import correction, is_estimate, previous_of
from services.transactions.meter import iter_samples
from services.transactions.tables import TRANSACTION, message_key, queue_meter_values
from shared.db.enums import TX_ACTIVE, TX_COMPLETED, TX_REJECTED
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v16.common import IdTagInfo
from shared.ocpp.v16.stop_transaction_request import StopTransactionRequest
from shared.ocpp.v16.stop_transaction_response import StopTransactionResponse
from shared.txevents import TRANSACTION_STOPPED, Outcome, stopped_payload, wh_number

log = logging.getLogger(__name__)

# OCPP 1.6 §4.10: "the Reason element MAY be omitted and the Reason SHOULD be assumed Local".
DEFAULT_REASON = Reason.local.value


@dataclass(frozen=True, slots=True)
class Stop:
    """What a StopTransaction reports."""

    transaction_id: int
    meter_stop: Decimal
    stopped_at: datetime
    id_tag: str | None
    reason: str
    key: str


async def handle(
    ctx: HandlerContext, env: Envelope, req: StopTransactionRequest
) -> StopTransactionResponse:
    """Complete the transaction once; an unknown or already stopped one is answered the same.

    A transaction the CSMS (or an operator) closed without a stop gets this stop as a
    correction: its meter stop, time and reason replace the estimate, which is kept.
    """
    chargepoint_id = ctx.chargepoint_id
    transaction_id, id_tag = req.transaction_id, req.id_tag
    meter_stop = Decimal(req.meter_stop)
    stopped_at = req.timestamp
    reason = req.reason.value if req.reason is not None else DEFAULT_REASON
    samples = list(iter_samples(req.transaction_data))
    stop = Stop(
        transaction_id=transaction_id,
        meter_stop=meter_stop,
        stopped_at=stopped_at,
        id_tag=id_tag,
        reason=reason,
        key=message_key(chargepoint_id, env.correlation_id, env.unique_id),
    )
    t = TRANSACTION.c
    row = (
        await ctx.session.execute(
            select(TRANSACTION)
            .where(t.transaction_id == transaction_id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE (locks.py took it already)
        )
    ).one_or_none()
    if row is not None and row.chargepoint_id != chargepoint_id:
        row, foreign = None, True
    else:
        foreign = False
    outcome, previous = await _apply(ctx, row, stop)
    if outcome == "unknown":
        # OCPP 1.6 §4.10: "The Central System cannot prevent a transaction from stopping";
        # a charge point may replay transactions stored while
        # offline; the answer must not be a CALLERROR. Keep what it reported.
        log.warning(
            "StopTransaction for unknown transaction %s (meterStop %s, reason %s)%s",
            transaction_id,
            meter_stop,
            reason,
            " which belongs to another charge point" if foreign else "",
            extra={
                "anomaly": "stop_unknown_transaction",
                "transaction_id": transaction_id,
                "meter_stop": wh_number(meter_stop),
            },
        )
    # A repeated stop's transactionData is already stored (by the first one, in its commit).
    queue_meter_values(
        ctx,
        samples if outcome != "repeated" else (),
        message_id=stop.key,
        chargepoint_id=chargepoint_id,
        connectorid=row.connectorid if row is not None else None,
        transaction_id=transaction_id,
    )
    info: dict[str, Any] | None = None
    if id_tag is not None:
        # StopTransaction.conf carries idTagInfo only when the request had an idTag (§4.10:
        # the CSMS "MAY send information about the idTag used to stop the transaction"). It
        # describes the tag, never the tag's other transactions: no ConcurrentTx here.
        info = await idtags.authorize(ctx.session, id_tag, now=ctx.now, concurrency=False)
    ctx.emit(
        TRANSACTION_STOPPED,
        stopped_payload(
            transaction_id=transaction_id,
            connector_id=row.connectorid if row is not None else None,
            meter_start=row.wh_meter_start if row is not None else None,
            meter_stop=meter_stop,
            reason=reason,
            timestamp=stopped_at,
            outcome=outcome,
            closed_by="chargepoint",
            id_tag=id_tag,
            previous=previous,
        ),
        chargepoint_id,
    )
    return StopTransactionResponse(
        id_tag_info=IdTagInfo.model_validate(info) if info is not None else None
    )


async def _apply(
    ctx: HandlerContext, row: Row[Any] | None, stop: Stop
) -> tuple[Outcome, dict[str, Any] | None]:
    """Write the stop onto the locked row; the event's outcome (and the replaced estimate).

    Active -> Completed (stopped). Rejected and not stopped yet -> the stop is recorded, the
    status stays Rejected (stopped). Closed by the CSMS or an operator -> correction
    (corrected). Completed by a stop already -> nothing (repeated). No row -> unknown.
    """
    if row is None:
        return "unknown", None
    stopped = {
        "stop_transaction_timestamp": stop.stopped_at,
        "wh_meter_stop": stop.meter_stop,
        "wh_meter_last": stop.meter_stop,
        "wh_meter_last_at": stop.stopped_at,
        "reason_stopped": stop.reason,
        "id_tag_stop": stop.id_tag,
        "stop_message_id": stop.key,
        "updated_at": ctx.now,
    }
    outcome: Outcome
    previous = None
    if row.status == TX_ACTIVE:
        values, outcome = {**stopped, "status": TX_COMPLETED}, "stopped"
    elif row.status == TX_REJECTED and row.stop_message_id is None:
        values, outcome = stopped, "stopped"
    elif is_estimate(row):
        values, outcome = {**stopped, **correction(row, now=ctx.now)}, "corrected"
        previous = previous_of(row)
        log.info(
            "StopTransaction for transaction %s closed %s by the CSMS: corrected",
            row.transaction_id,
            row.reason_stopped,
            extra={"transaction_id": row.transaction_id},
        )
    else:
        # Already stopped: this StopTransaction again (redelivered, or repeated by a charge
        # point that lost our answer). The first one stands; answer the same.
        log.info(
            "StopTransaction repeated for stopped transaction %s",
            row.transaction_id,
            extra={"transaction_id": row.transaction_id},
        )
        return "repeated", None
    await ctx.session.execute(
        update(TRANSACTION).where(TRANSACTION.c.transaction_id == row.transaction_id).values(values)
    )
    return outcome, previous
