"""OCPP 2.0.1 TransactionEvent (E01-E15): one `transaction` row per transactionId.

The station's string transactionId is `transaction.remote_transaction_id`, unique per charge
point (migration 0004): the first event of a transaction inserts the row (`ON CONFLICT DO
NOTHING`), every event then locks it and applies what it adds. A repeated Started, a
retried frame or a redelivered envelope never makes a second row; an Updated or Ended for a
transaction we never saw (its Started lost, or replayed after being offline) creates it, so
nothing is lost. An event whose `seqNo` was received already (a retry with a new frame) stores
nothing again; gaps in the seqNo are recorded (`missing_seq_nos`). A new transaction on an
EVSE closes the EVSE's open one (Superseded); the first idToken decides it as a 1.6 start
(not Accepted -> Rejected). The rules are in services/transactions/README.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocpp.v201.enums import AuthorizationStatusEnumType
from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.transactions import idtags
from services.transactions.closing import correction, is_estimate, previous_of, supersede
from services.transactions.meter import Reading, Sample, iter_samples_201, latest_energy_wh
from services.transactions.reservations import consume_reservation
from services.transactions.tables import TRANSACTION, message_key, queue_meter_values
from shared.chargepoints import create_chargepoint_if_unknown
from shared.db.enums import TX_ACTIVE, TX_COMPLETED, TX_REJECTED
from shared.db.models import Connector
from shared.dispatch import HandlerContext, OcppError, Payload
from shared.envelope import Envelope
from shared.event_names import TRANSACTION_CHARGING_STATE_CHANGED, TRANSACTION_STARTED
from shared.events.projection import emit_meter_values
from shared.ocpp import OCPP201, VIOLATION_CODES, Violation, format_datetime
from shared.ocpp.v201.common import (
    IdTokenEnumType,
    ReasonEnumType,
    TransactionEventEnumType,
)
from shared.ocpp.v201.transaction_event_request import TransactionEventRequest
from shared.ocpp.v201.transaction_event_response import TransactionEventResponse
from shared.txevents import TRANSACTION_STOPPED, Outcome, stopped_payload, wh_number

log = logging.getLogger(__name__)

STARTED = TransactionEventEnumType.started.value
ENDED = TransactionEventEnumType.ended.value
# A transaction that has not named its EVSE yet (2.0.1 requires evse only on the first event
# the station sends for it; a lost Started leaves it unknown until an event names it).
UNKNOWN_EVSE = 0
# `id_tag` is NOT NULL: a transaction started without a token (cable first, or type
# NoAuthorization) has "" until an event carries an idToken.
NO_TOKEN = ""
# OCPP 2.0.1 TransactionType.stoppedReason: "may only be omitted when Reason is Local".
DEFAULT_REASON = ReasonEnumType.local.value
MAX_MISSING = 1000
"""seqNo gaps recorded per transaction at most (the most recent ones): a station that jumps
thousands of numbers is broken, and the list lives in the row."""


@dataclass(frozen=True, slots=True)
class TxEvent:
    """What the handler needs of a TransactionEventRequest."""

    event_type: str
    timestamp: datetime
    remote_id: str
    seq_no: int
    evse_id: int | None
    id_token: str | None
    stopped_reason: str
    reservation_id: int | None
    samples: list[Sample]
    # transactionInfo.remoteStartId: the RequestStartTransaction that started it (F01/F02).
    remote_start_id: int | None = None
    # idToken.type (C01: a tag of another type does not match) and the event's triggerReason.
    id_token_type: str | None = None
    trigger_reason: str | None = None
    charging_state: str | None = None


def parse_event(req: TransactionEventRequest) -> TxEvent:
    """What the handler needs of a TransactionEventRequest.

    An idToken of type NoAuthorization (or empty) is no token; no stoppedReason is Local.
    """
    token = req.id_token
    id_token = token.id_token if token is not None else None
    if token is not None and token.type is IdTokenEnumType.no_authorization:
        id_token = None
    reason = req.transaction_info.stopped_reason
    return TxEvent(
        event_type=req.event_type.value,
        timestamp=req.timestamp,
        remote_id=req.transaction_info.transaction_id,
        seq_no=req.seq_no,
        evse_id=req.evse.id if req.evse is not None else None,
        id_token=id_token or None,
        stopped_reason=reason.value if reason is not None else DEFAULT_REASON,
        reservation_id=req.reservation_id,
        samples=list(iter_samples_201(req.meter_value)),
        remote_start_id=req.transaction_info.remote_start_id,
        id_token_type=token.type.value if token is not None else None,
        trigger_reason=req.trigger_reason.value,
        charging_state=(
            req.transaction_info.charging_state.value
            if req.transaction_info.charging_state is not None
            else None
        ),
    )


async def handle(
    ctx: HandlerContext, env: Envelope, req: TransactionEventRequest
) -> TransactionEventResponse:
    """Record the event; answer {} or {idTokenInfo} when the event carries an idToken."""
    chargepoint_id = ctx.chargepoint_id
    if req.seq_no < 0:
        # The schema leaves seqNo unbounded; a negative one cannot be ordered. Refused
        # before anything is written.
        raise OcppError(
            VIOLATION_CODES[OCPP201][Violation.PROPERTY],
            f"payload.seqNo: {req.seq_no} is negative",
            {"path": "payload.seqNo", "rule": "minimum"},
        )
    ev = parse_event(req)
    key = message_key(chargepoint_id, env.correlation_id, env.unique_id)
    reading = latest_energy_wh(ev.samples)
    await create_chargepoint_if_unknown(ctx, chargepoint_id)
    new = await _insert(ctx, chargepoint_id, ev, reading, key)
    row = (
        await ctx.session.execute(
            select(TRANSACTION)
            .where(
                TRANSACTION.c.chargepoint_id == chargepoint_id,
                TRANSACTION.c.remote_transaction_id == ev.remote_id,
            )
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE (locks.py took it already)
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
    # A seqNo received already: the station retried the event (a new frame after a lost
    # answer; 2.0.1: seqNo "helps with determining if all messages of a transaction have
    # been received"). Nothing is written again; the answer and the events are the same.
    duplicate = not new and seq_no_seen(row, ev.seq_no)
    values = {} if duplicate else _changes(row, ev, reading, new=new, key=key, now=ctx.now)
    if duplicate:
        log.info(
            "TransactionEvent seqNo %s of %s repeated: nothing stored again",
            ev.seq_no,
            ev.remote_id,
            extra={"transaction_id": transaction_id},
        )
    if values:
        values["updated_at"] = ctx.now
        await ctx.session.execute(
            update(TRANSACTION).where(TRANSACTION.c.transaction_id == transaction_id).values(values)
        )
    current = {**row._asdict(), **values}
    if "charging_state" in values and current["status"] == TX_ACTIVE:
        # The load balancer's idle sessions (SuspendedEV, EVConnected, Idle) follow it.
        ctx.emit(
            TRANSACTION_CHARGING_STATE_CHANGED,
            {"transaction_id": transaction_id, "charging_state": values["charging_state"]},
            chargepoint_id,
        )
    connector_id = current["connectorid"]
    if new or "connectorid" in values:
        superseded = await supersede(ctx, chargepoint_id, connector_id, transaction_id)
        if transaction_id in superseded:
            current["status"] = TX_COMPLETED
    decided = None
    first_token = new or row.id_tag == NO_TOKEN
    if not duplicate and ev.id_token is not None and ev.event_type != ENDED and first_token:
        decided = await _authorize_start(
            ctx, transaction_id, ev.id_token, current, ev.id_token_type
        )
    if new and ev.reservation_id is not None:
        await consume_reservation(
            ctx, chargepoint_id, ev.reservation_id, transaction_id, env.action
        )
    repeated_end = ev.event_type == ENDED and row.status == TX_COMPLETED and not is_estimate(row)
    if not duplicate and not repeated_end:
        # A repeated Ended's meter values are stored already (by the first one).
        queue_meter_values(
            ctx,
            ev.samples,
            message_id=key,
            chargepoint_id=chargepoint_id,
            connectorid=connector_id,
            transaction_id=transaction_id,
        )
    answer = await _answer(ctx, row, ev, decided=decided)
    info = answer.get("idTokenInfo")
    _emit(ctx, chargepoint_id, ev, row, current, new=new, status=info and info["status"], key=key)
    return TransactionEventResponse.model_validate(answer)


def seq_no_seen(row: Row[Any] | Any, seq_no: int) -> bool:
    """Whether the event with this seqNo was received already (pure)."""
    highest = row.seq_no_max
    if highest is None or seq_no > highest:
        return False
    return seq_no not in (row.missing_seq_nos or ())


def seq_no_changes(row: Row[Any] | Any, seq_no: int) -> dict[str, Any]:
    """seq_no_max and the gaps (missing_seq_nos) after receiving `seq_no` (pure).

    A number above the highest opens a gap of those between; a missing one fills its gap
    (offline events arrive in any order). A row from before migration 0005 starts counting
    at this event.
    """
    highest = row.seq_no_max
    if highest is None:
        return {"seq_no_max": seq_no, "missing_seq_nos": []}
    missing = list(row.missing_seq_nos or ())
    if seq_no > highest:
        missing.extend(range(max(highest + 1, seq_no - MAX_MISSING), seq_no))
        return {"seq_no_max": seq_no, "missing_seq_nos": missing[-MAX_MISSING:]}
    if seq_no in missing:
        missing.remove(seq_no)
        return {"missing_seq_nos": missing}
    return {}


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
    reading: Reading | None,
    key: str,
) -> bool:
    """Insert the transaction's row unless it exists; whether it was inserted."""
    connector_uuid = _connector_uuid(chargepoint_id, ev.evse_id) if ev.evse_id is not None else None
    wh = reading[1] if reading is not None else Decimal(0)
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
            remote_start_id=ev.remote_start_id,
            trigger_reason=ev.trigger_reason,
            charging_state=ev.charging_state,
            status=TX_ACTIVE,
            remote_transaction_id=ev.remote_id,
            start_message_id=key,
            seq_no_max=ev.seq_no,
            missing_seq_nos=list(range(max(0, ev.seq_no - MAX_MISSING), ev.seq_no)),
        )
        .on_conflict_do_nothing()
        .returning(TRANSACTION.c.transaction_id)
    )
    return inserted.scalar_one_or_none() is not None


def _changes(
    row: Row[Any] | Any,
    ev: TxEvent,
    reading: Reading | None,
    *,
    new: bool,
    key: str,
    now: datetime,
) -> dict[str, Any]:
    """The column updates this event brings to the locked row (pure, unit-tested).

    Offline events arrive in any order (2.0.1 `offline: true`, E04 / E12): an earlier event
    (the Started replayed after an Updated or even the Ended) moves the start back, and the
    Started's reading is the meter start. Nothing reopens a transaction: after Ended (or a
    close by the CSMS) an Updated adds its meter values and nothing else.
    """
    values: dict[str, Any] = {} if new else seq_no_changes(row, ev.seq_no)
    if (
        not new
        and ev.charging_state is not None
        and ev.charging_state != row.charging_state
        and (row.seq_no_max is None or ev.seq_no >= row.seq_no_max)
    ):
        # The latest state only: an older event replayed late does not bring back its state.
        values["charging_state"] = ev.charging_state
    if row.id_tag == NO_TOKEN and ev.id_token:
        values["id_tag"] = ev.id_token
    if ev.remote_start_id is not None and row.remote_start_id is None:
        values["remote_start_id"] = ev.remote_start_id
    if row.connectorid == UNKNOWN_EVSE and ev.evse_id:
        values["connectorid"] = ev.evse_id
        values["connector_uuid"] = _connector_uuid(row.chargepoint_id, ev.evse_id)
    if not new:
        if ev.timestamp < row.start_transaction_timestamp:
            values["start_transaction_timestamp"] = ev.timestamp
        if ev.event_type == STARTED and reading is not None:
            values["wh_meter_start"] = reading[1]
        if ev.event_type == STARTED and ev.trigger_reason != row.trigger_reason:
            # The Started arrived after a later event (offline replay): its trigger is the
            # transaction's start trigger.
            values["trigger_reason"] = ev.trigger_reason
    if row.status == TX_COMPLETED:
        if ev.event_type == ENDED and is_estimate(row):
            values.update(_ended(row, ev, reading, key), **correction(row, now=now))
        return values
    last_at = row.wh_meter_last_at
    active = row.status == TX_ACTIVE
    running = row.stop_transaction_timestamp is None  # Active, or Rejected not stopped yet
    if running and not new and reading is not None and (last_at is None or reading[0] > last_at):
        values["wh_meter_last"], values["wh_meter_last_at"] = reading[1], reading[0]
        if last_at is None:
            # The row was created without a reading: the first one is the start.
            values.setdefault("wh_meter_start", reading[1])
    if ev.event_type == ENDED and row.stop_message_id is None:
        values.update(_ended(row, ev, reading, key, last=values.get("wh_meter_last")))
        if active:
            values["status"] = TX_COMPLETED
    return values


def _ended(
    row: Row[Any] | Any,
    ev: TxEvent,
    reading: Reading | None,
    key: str,
    *,
    last: Decimal | None = None,
) -> dict[str, Any]:
    """The stop columns of an Ended: its reading, else the last one known."""
    stop_wh = reading[1] if reading is not None else last if last is not None else row.wh_meter_last
    return {
        "stop_transaction_timestamp": ev.timestamp,
        "wh_meter_stop": stop_wh,
        "wh_meter_last": stop_wh,
        "wh_meter_last_at": ev.timestamp,
        "reason_stopped": ev.stopped_reason,
        "stop_trigger_reason": ev.trigger_reason,
        "id_tag_stop": ev.id_token,
        "stop_message_id": key,
    }


async def _authorize_start(
    ctx: HandlerContext,
    transaction_id: int,
    token: str,
    current: dict[str, Any],
    token_type: str | None = None,
) -> dict[str, Any]:
    """The first idToken of a transaction decides it, as a 1.6 StartTransaction does: not
    Accepted -> `Rejected` (2.0.1 E05: the station ends it, StopTxOnInvalidId, or suspends
    energy); never counts as open."""
    info = await idtags.authorize(
        ctx.session,
        token,
        now=ctx.now,
        excluding_transaction=transaction_id,
        token_type=token_type,
    )
    values: dict[str, Any] = {"authorization_status": info["status"]}
    if info["status"] != AuthorizationStatusEnumType.accepted.value:
        if current["status"] == TX_ACTIVE:
            values["status"] = TX_REJECTED
        log.info(
            "TransactionEvent %s: idToken answered %s: recorded Rejected",
            current["remote_transaction_id"],
            info["status"],
            extra={"transaction_id": transaction_id},
        )
    current.update(values)
    await ctx.session.execute(
        update(TRANSACTION).where(TRANSACTION.c.transaction_id == transaction_id).values(values)
    )
    return info


async def _answer(
    ctx: HandlerContext, row: Row[Any], ev: TxEvent, *, decided: dict[str, Any] | None
) -> Payload:
    """{} or {idTokenInfo}: the decision just made, the recorded one for the transaction's
    own token, else the tag as it is (an Ended's or a later token: no ConcurrentTx)."""
    if ev.id_token is None:
        return {}
    info = decided
    if info is None:
        info = await idtags.authorize(
            ctx.session,
            ev.id_token,
            now=ctx.now,
            concurrency=False,
            token_type=ev.id_token_type,
        )
        if ev.id_token == row.id_tag and ev.event_type != ENDED:
            info = idtags.with_status(info, row.authorization_status)
    return {"idTokenInfo": idtags.id_token_info(info)}


def _emit(
    ctx: HandlerContext,
    chargepoint_id: str,
    ev: TxEvent,
    row: Row[Any],
    current: dict[str, Any],
    *,
    new: bool,
    status: str | None,
    key: str,
) -> None:
    """transaction.started / transaction.stopped, as 1.6 emits them; the public events of
    the meter values (stored under `key`: a retried event, which stores none, gets none)."""
    common = {
        "transaction_id": row.transaction_id,
        "remote_transaction_id": ev.remote_id,
        "connector_id": current["connectorid"],
    }
    if new or ev.event_type == STARTED:
        ctx.emit(
            TRANSACTION_STARTED,
            {
                **common,
                "id_tag": current["id_tag"],
                "id_tag_status": status,
                "status": current["status"],
                "meter_start": wh_number(current["wh_meter_start"]),
                "timestamp": format_datetime(current["start_transaction_timestamp"]),
                "reservation_id": current["reservation_id"],
                "repeated": not new,
            },
            chargepoint_id,
        )
    if ev.samples:
        emit_meter_values(
            ctx,
            chargepoint_id,
            transaction_id=row.transaction_id,
            connector_id=current["connectorid"],
            samples=len(ev.samples),
            latest=latest_energy_wh(ev.samples),
            reading_key=key,
            remote_transaction_id=ev.remote_id,
        )
    if ev.event_type == ENDED:
        outcome: Outcome
        previous = None
        if new:
            outcome = "unknown"
        elif row.status == TX_COMPLETED and is_estimate(row):
            outcome, previous = "corrected", previous_of(row)
        elif row.status == TX_COMPLETED or row.stop_message_id is not None:
            outcome = "repeated"
        else:
            outcome = "stopped"
        ctx.emit(
            TRANSACTION_STOPPED,
            stopped_payload(
                transaction_id=row.transaction_id,
                remote_transaction_id=ev.remote_id,
                connector_id=current["connectorid"],
                meter_start=current["wh_meter_start"],
                meter_stop=current["wh_meter_stop"],
                reason=current["reason_stopped"],
                timestamp=current["stop_transaction_timestamp"],
                outcome=outcome,
                closed_by="chargepoint",
                id_tag=ev.id_token,
                previous=previous,
            ),
            chargepoint_id,
        )
