"""OCPP 2.0.1 TransactionEvent (E01-E15): one `transaction` row per transactionId.

The station's string transactionId is `transaction.remote_transaction_id`, unique per charge
point (migration 0004): the first event of a transaction inserts the row (`ON CONFLICT DO
NOTHING`), every event then locks it and applies what it adds. A repeated Started, a
retried frame or a redelivered envelope never makes a second row; an Updated or Ended for a
transaction we never saw (its Started lost, or replayed after being offline) creates it, so
nothing is lost. The rules (which column each event fills) are in services/transactions/README.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpp.v201.enums import ReasonEnumType, TransactionEventEnumType
from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.transactions import idtags
from services.transactions.chargepoints import ensure_chargepoint
from services.transactions.meter import Sample, iter_samples_201, latest_energy_wh, parse_timestamp
from services.transactions.reservations import consume_reservation
from services.transactions.tables import (
    TRANSACTION,
    message_key,
    payload_errors,
    queue_meter_values,
)
from shared.db.enums import STOP_REASONS
from shared.db.models import Connector
from shared.dispatch import HandlerContext, OcppError, Payload
from shared.envelope import Envelope

log = logging.getLogger(__name__)

STARTED = TransactionEventEnumType.started.value
ENDED = TransactionEventEnumType.ended.value
COMPLETED = "Completed"
# A transaction that has not named its EVSE yet (2.0.1 requires evse only on the first event
# the station sends for it; a lost Started leaves it unknown until an event names it).
UNKNOWN_EVSE = 0
# `id_tag` is NOT NULL: a transaction started without a token (cable first, or type
# NoAuthorization) has "" until an event carries an idToken.
NO_TOKEN = ""
# OCPP 2.0.1 TransactionType.stoppedReason: "may only be omitted when Reason is Local".
DEFAULT_REASON = ReasonEnumType.local.value


@dataclass(frozen=True, slots=True)
class TxEvent:
    """What the handler needs of a TransactionEventRequest."""

    event_type: str
    timestamp: datetime
    remote_id: str
    evse_id: int | None
    id_token: str | None
    stopped_reason: str
    reservation_id: int | None
    samples: list[Sample]


def parse_event(payload: Payload) -> TxEvent:
    """A TransactionEventRequest as a `TxEvent` (KeyError/ValueError/TypeError if unreadable).

    An idToken of type NoAuthorization (or empty) is no token. A stoppedReason outside the
    OCPP sets (the column's CHECK) becomes Other, as in 1.6.
    """
    info = payload["transactionInfo"]
    token = payload.get("idToken") or {}
    id_token = token.get("idToken") or None
    if token.get("type") == "NoAuthorization":
        id_token = None
    evse = payload.get("evse")
    reason = info.get("stoppedReason") or DEFAULT_REASON
    if reason not in STOP_REASONS:
        log.warning("stoppedReason %r is not an OCPP reason; stored as Other", reason)
        reason = ReasonEnumType.other.value
    raw_reservation = payload.get("reservationId")
    return TxEvent(
        event_type=str(payload["eventType"]),
        timestamp=parse_timestamp(payload["timestamp"]),
        remote_id=str(info["transactionId"]),
        evse_id=int(evse["id"]) if evse else None,
        id_token=str(id_token) if id_token is not None else None,
        stopped_reason=reason,
        reservation_id=int(raw_reservation) if raw_reservation is not None else None,
        samples=list(iter_samples_201(payload.get("meterValue"))),
    )


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Record the event; answer {} or {idTokenInfo} when the event carries an idToken."""
    chargepoint_id = env.chargepoint_id or ""
    with payload_errors(env.action, env.ocpp_version or ""):
        ev = parse_event(env.payload)
    key = message_key(chargepoint_id, env.correlation_id, env.unique_id)
    reading = latest_energy_wh(ev.samples)
    await ensure_chargepoint(ctx, chargepoint_id)
    new = await _insert(ctx, chargepoint_id, ev, reading, key)
    row = (
        await ctx.session.execute(
            select(TRANSACTION)
            .where(
                TRANSACTION.c.chargepoint_id == chargepoint_id,
                TRANSACTION.c.remote_transaction_id == ev.remote_id,
            )
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        # Only possible if another transaction of this EVSE has the same start timestamp and
        # token (uq_transaction_start): nothing was written for it (the insert conflicted), the
        # station gets InternalError and retries; the frame stays in the message log.
        log.error(
            "TransactionEvent %s of %s collides with another transaction's start",
            ev.remote_id,
            chargepoint_id,
        )
        raise OcppError("InternalError", f"transaction {ev.remote_id!r} could not be recorded")
    transaction_id: int = row.transaction_id
    was_completed = row.status == COMPLETED
    values = _changes(row, ev, reading, new=new, key=key)
    if values:
        values["updated_at"] = ctx.now
        await ctx.session.execute(
            update(TRANSACTION).where(TRANSACTION.c.transaction_id == transaction_id).values(values)
        )
    if new and ev.reservation_id is not None:
        await consume_reservation(
            ctx, chargepoint_id, ev.reservation_id, transaction_id, env.action
        )
    connector_id = values.get("connectorid", row.connectorid)
    if not (ev.event_type == ENDED and was_completed):
        # A repeated Ended's meter values are stored already (by the first one).
        queue_meter_values(
            ctx,
            ev.samples,
            message_id=key,
            chargepoint_id=chargepoint_id,
            connectorid=connector_id,
            transaction_id=transaction_id,
        )
    info = None
    if ev.id_token is not None:
        info = await idtags.authorize(
            ctx.session, ev.id_token, now=ctx.now, excluding_transaction=transaction_id
        )
    _emit(ctx, chargepoint_id, ev, row, values, new=new, was_completed=was_completed, info=info)
    return {"idTokenInfo": idtags.id_token_info(info)} if info is not None else {}


def _connector_uuid(chargepoint_id: str, evse_id: int) -> Any:
    """The uuid of the EVSE's connector row (NULL while the registry has not created it)."""
    return (
        select(Connector.uuid)
        .where(Connector.chargepoint_id == chargepoint_id, Connector.connectorid == evse_id)
        .scalar_subquery()
    )


async def _insert(
    ctx: HandlerContext,
    chargepoint_id: str,
    ev: TxEvent,
    reading: tuple[datetime, int] | None,
    key: str,
) -> bool:
    """Insert the transaction's row unless it exists; whether it was inserted."""
    connector_uuid = _connector_uuid(chargepoint_id, ev.evse_id) if ev.evse_id is not None else None
    wh = reading[1] if reading is not None else 0
    inserted = await ctx.session.execute(
        pg_insert(TRANSACTION)
        .values(
            chargepoint_id=chargepoint_id,
            connectorid=ev.evse_id if ev.evse_id is not None else UNKNOWN_EVSE,
            connector_uuid=connector_uuid,
            id_tag=ev.id_token or NO_TOKEN,
            wh_meter_start=wh,
            wh_meter_last=wh,
            wh_meter_last_at=reading[0] if reading is not None else None,
            start_transaction_timestamp=ev.timestamp,
            reservation_id=ev.reservation_id,
            status=idtags.ACTIVE,
            remote_transaction_id=ev.remote_id,
            start_message_id=key,
        )
        .on_conflict_do_nothing()
        .returning(TRANSACTION.c.transaction_id)
    )
    return inserted.scalar_one_or_none() is not None


def _changes(
    row: Row[Any], ev: TxEvent, reading: tuple[datetime, int] | None, *, new: bool, key: str
) -> dict[str, Any]:
    """The column updates this event brings to the locked row (pure, unit-tested)."""
    values: dict[str, Any] = {}
    if row.id_tag == NO_TOKEN and ev.id_token:
        values["id_tag"] = ev.id_token
    if row.connectorid == UNKNOWN_EVSE and ev.evse_id:
        values["connectorid"] = ev.evse_id
        values["connector_uuid"] = _connector_uuid(row.chargepoint_id, ev.evse_id)
    if row.status == COMPLETED:
        return values
    last_at = row.wh_meter_last_at
    if not new and reading is not None and (last_at is None or reading[0] > last_at):
        values["wh_meter_last"], values["wh_meter_last_at"] = reading[1], reading[0]
        if last_at is None:
            # The row was created without a reading: the first one is the start.
            values["wh_meter_start"] = reading[1]
    if ev.event_type == ENDED:
        stop_wh = (
            reading[1] if reading is not None else values.get("wh_meter_last", row.wh_meter_last)
        )
        values.update(
            stop_transaction_timestamp=ev.timestamp,
            wh_meter_stop=stop_wh,
            wh_meter_last=stop_wh,
            wh_meter_last_at=ev.timestamp,
            reason_stopped=ev.stopped_reason,
            id_tag_stop=ev.id_token,
            status=COMPLETED,
            stop_message_id=key,
        )
    return values


def _emit(
    ctx: HandlerContext,
    chargepoint_id: str,
    ev: TxEvent,
    row: Row[Any],
    values: dict[str, Any],
    *,
    new: bool,
    was_completed: bool,
    info: dict[str, Any] | None,
) -> None:
    """transaction.started / meter_values.received / transaction.stopped, as 1.6 emits them."""
    current = {**row._asdict(), **values}
    common = {
        "transaction_id": row.transaction_id,
        "remote_transaction_id": ev.remote_id,
        "connector_id": current["connectorid"],
    }
    if new or ev.event_type == STARTED:
        ctx.emit(
            "transaction.started",
            {
                **common,
                "id_tag": current["id_tag"],
                "id_tag_status": info["status"] if info is not None else None,
                "meter_start": current["wh_meter_start"],
                "timestamp": idtags.format_datetime(current["start_transaction_timestamp"]),
                "reservation_id": current["reservation_id"],
                "repeated": not new,
            },
            chargepoint_id,
        )
    latest = latest_energy_wh(ev.samples)
    if ev.samples:
        ctx.emit(
            "meter_values.received",
            {
                **common,
                "samples": len(ev.samples),
                "energy_wh": latest[1] if latest is not None else None,
                "timestamp": latest[0].isoformat() if latest is not None else None,
            },
            chargepoint_id,
        )
    if ev.event_type == ENDED:
        outcome = "repeated" if was_completed else "unknown" if new else "stopped"
        stop = current["wh_meter_stop"]
        ctx.emit(
            "transaction.stopped",
            {
                **common,
                "id_tag": ev.id_token,
                "meter_stop": stop,
                "energy_wh": stop - current["wh_meter_start"] if stop is not None else None,
                "reason": current["reason_stopped"],
                "timestamp": idtags.format_datetime(ev.timestamp),
                "outcome": outcome,
            },
            chargepoint_id,
        )
