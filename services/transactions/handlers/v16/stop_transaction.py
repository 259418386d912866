"""OCPP 1.6 StopTransaction (§4.10): close the session, store transactionData, never refuse."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.v16.enums import Reason
from sqlalchemy import select, update

from services.transactions import idtags
from services.transactions.meter import iter_samples, parse_timestamp
from services.transactions.tables import (
    TRANSACTION,
    message_key,
    payload_errors,
    queue_meter_values,
)
from shared.db.enums import STOP_REASONS
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

log = logging.getLogger(__name__)

COMPLETED = "Completed"
# OCPP 1.6 §4.10: "the Reason element MAY be omitted and the Reason SHOULD be assumed Local".
DEFAULT_REASON = Reason.local.value


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Complete the transaction once; an unknown or already stopped one is answered the same."""
    chargepoint_id = env.chargepoint_id or ""
    p = env.payload
    with payload_errors(env.action):
        transaction_id = int(p["transactionId"])
        meter_stop = int(p["meterStop"])
        stopped_at = parse_timestamp(p["timestamp"])
        raw_tag = p.get("idTag")
        id_tag = str(raw_tag) if raw_tag is not None else None
        reason = p.get("reason") or DEFAULT_REASON
        samples = list(iter_samples(p.get("transactionData")))
    if reason not in STOP_REASONS:
        log.warning("StopTransaction reason %r is not an OCPP reason; stored as Other", reason)
        reason = Reason.other.value
    key = message_key(chargepoint_id, env.correlation_id, env.unique_id)
    t = TRANSACTION.c
    stopped = (
        await ctx.session.execute(
            update(TRANSACTION)
            .where(
                t.transaction_id == transaction_id,
                t.chargepoint_id == chargepoint_id,
                t.status != COMPLETED,
            )
            .values(
                stop_transaction_timestamp=stopped_at,
                wh_meter_stop=meter_stop,
                wh_meter_last=meter_stop,
                wh_meter_last_at=stopped_at,
                reason_stopped=reason,
                id_tag_stop=id_tag,
                status=COMPLETED,
                stop_message_id=key,
                updated_at=ctx.now,
            )
            .returning(t.connectorid, t.wh_meter_start)
        )
    ).first()
    outcome = "stopped"
    connector_id: int | None = None
    wh_meter_start: int | None = None
    if stopped is not None:
        connector_id, wh_meter_start = stopped.connectorid, stopped.wh_meter_start
    else:
        existing = (
            await ctx.session.execute(
                select(t.chargepoint_id, t.connectorid, t.wh_meter_start).where(
                    t.transaction_id == transaction_id
                )
            )
        ).first()
        if existing is not None and existing.chargepoint_id == chargepoint_id:
            # Already Completed: this StopTransaction again (redelivered, or repeated by a
            # charge point that lost our answer). The first one stands; answer the same.
            outcome = "repeated"
            connector_id, wh_meter_start = existing.connectorid, existing.wh_meter_start
            log.info(
                "StopTransaction repeated for completed transaction %s",
                transaction_id,
                extra={"transaction_id": transaction_id},
            )
        else:
            # OCPP 1.6 §4.10: "The Central System cannot prevent a transaction from stopping";
            # a charge point may replay transactions stored while
            # offline; the answer must not be a CALLERROR. Keep what it reported.
            outcome = "unknown"
            log.warning(
                "StopTransaction for unknown transaction %s (meterStop %s, reason %s)%s",
                transaction_id,
                meter_stop,
                reason,
                " which belongs to another charge point" if existing is not None else "",
                extra={
                    "anomaly": "stop_unknown_transaction",
                    "transaction_id": transaction_id,
                    "meter_stop": meter_stop,
                },
            )
    # A repeated stop's transactionData is already stored (by the first one, in its commit).
    queue_meter_values(
        ctx,
        samples if outcome != "repeated" else (),
        message_id=key,
        chargepoint_id=chargepoint_id,
        connectorid=connector_id,
        transaction_id=transaction_id,
    )
    answer: dict[str, Any] = {}
    if id_tag is not None:
        # StopTransaction.conf carries idTagInfo only when the request had an idTag (§4.10:
        # the CSMS "MAY send information about the idTag used to stop the transaction").
        answer["idTagInfo"] = await idtags.authorize(
            ctx.session, id_tag, now=ctx.now, excluding_transaction=transaction_id
        )
    ctx.emit(
        "transaction.stopped",
        {
            "transaction_id": transaction_id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "meter_stop": meter_stop,
            "energy_wh": meter_stop - wh_meter_start if wh_meter_start is not None else None,
            "reason": reason,
            "timestamp": idtags.format_datetime(stopped_at),
            "outcome": outcome,
        },
        chargepoint_id,
    )
    return answer
