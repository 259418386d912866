"""The batch's row locks, taken up front in one global order: Postgres never sees a deadlock.

A batch is one database transaction (shared/dispatch.py): the locks its first handlers take
are held while the later ones run. Two batches that touch the same rows in different orders
(a MeterValues batch's wh_meter_last UPDATE against a batch of StopTransactions, a boot's
closes against a start on the same connector) would wait on each other until Postgres aborts
one. So before any handler runs, `lock_batch` (the Router's `prepare` step) reads what the
batch will touch from its payloads and locks it in one order:

1. `id_tag` rows of the tags that start transactions (their open-transaction count must not
   change under a start: CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS / max_active_transactions),
   ascending `id_token`;
2. `transaction` rows, ascending `transaction_id`: the ids StopTransaction and MeterValues
   name, the open ones of the connectors a start, a 2.0.1 MeterValues or a status event
   names, the 2.0.1 transactions a TransactionEvent names, the open ones of a charge point
   that booted.

`FOR NO KEY UPDATE`, the lock an UPDATE of non-key columns takes itself: foreign key checks
(`FOR KEY SHARE`, e.g. a reservation pointing at the transaction) are not blocked. Rows that
appear after this step (a transaction another batch inserts meanwhile) are locked when a
handler reaches them, which only a start racing a stop of the same connector can meet.
Every other writer locks at most one transaction row at a time (the API's close) or locks
in the same order (the stale sweep).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.transactions.idtags import ACTIVE
from services.transactions.tables import TRANSACTION
from shared.bus.topology import upstream_key
from shared.db.models import IdTag
from shared.dispatch import DeliveryLike

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"
CONNECTOR_STATUS_CHANGED = "connector.status_changed"
CHARGEPOINT_BOOTED = "chargepoint.booted"
INT32_MAX = 2**31 - 1


@dataclass
class Wanted:
    """What one batch will lock."""

    tags: set[str] = field(default_factory=set)
    transaction_ids: set[int] = field(default_factory=set)
    connectors: set[tuple[str, int]] = field(default_factory=set)
    remote_ids: set[tuple[str, str]] = field(default_factory=set)
    chargepoints: set[str] = field(default_factory=set)

    def transaction(self, raw: Any) -> None:
        if raw is None:
            return
        value = int(raw)
        if 0 < value <= INT32_MAX:  # a transactionId no row can have locks nothing
            self.transaction_ids.add(value)

    def connector(self, chargepoint_id: str, raw: Any) -> None:
        value = int(raw)
        if 0 < value <= INT32_MAX:
            self.connectors.add((chargepoint_id, value))


Payload = dict[str, Any]


def _stop(w: Wanted, cp: str, p: Payload) -> None:
    w.transaction(p["transactionId"])


def _meter_values(w: Wanted, cp: str, p: Payload) -> None:
    w.transaction(p.get("transactionId"))


def _start(w: Wanted, cp: str, p: Payload) -> None:
    w.connector(cp, p["connectorId"])
    w.tags.add(str(p["idTag"]))


def _transaction_event(w: Wanted, cp: str, p: Payload) -> None:
    w.remote_ids.add((cp, str(p["transactionInfo"]["transactionId"])))
    evse = p.get("evse")
    if evse:
        w.connector(cp, evse["id"])
    token = (p.get("idToken") or {}).get("idToken")
    if token:
        w.tags.add(str(token))


def _meter_values_201(w: Wanted, cp: str, p: Payload) -> None:
    w.connector(cp, p["evseId"])


def _connector_status(w: Wanted, cp: str, p: Payload) -> None:
    w.connector(cp, p["connectorId"])


def _booted(w: Wanted, cp: str, p: Payload) -> None:
    w.chargepoints.add(cp)


COLLECTORS: dict[str, Callable[[Wanted, str, Payload], None]] = {
    upstream_key(V16, "StopTransaction"): _stop,
    upstream_key(V16, "MeterValues"): _meter_values,
    upstream_key(V16, "StartTransaction"): _start,
    upstream_key(V201, "TransactionEvent"): _transaction_event,
    upstream_key(V201, "MeterValues"): _meter_values_201,
    CONNECTOR_STATUS_CHANGED: _connector_status,
    CHARGEPOINT_BOOTED: _booted,
}


def wanted(deliveries: Sequence[DeliveryLike]) -> Wanted:
    """What the batch's handlers will lock (pure; a payload it cannot read is skipped: its
    handler answers the error and writes nothing)."""
    w = Wanted()
    for delivery in deliveries:
        collect = COLLECTORS.get(delivery.routing_key)
        if collect is None:
            continue
        env = delivery.envelope
        try:
            collect(w, env.chargepoint_id or "", env.payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return w


def _transaction_filter(w: Wanted) -> ColumnElement[bool]:
    t = TRANSACTION.c
    open_ = t.status == ACTIVE
    conditions: list[ColumnElement[bool]] = []
    if w.transaction_ids:
        conditions.append(t.transaction_id.in_(sorted(w.transaction_ids)))
    if w.connectors:
        conditions.append(open_ & tuple_(t.chargepoint_id, t.connectorid).in_(sorted(w.connectors)))
    if w.remote_ids:
        conditions.append(
            tuple_(t.chargepoint_id, t.remote_transaction_id).in_(sorted(w.remote_ids))
        )
    if w.chargepoints:
        conditions.append(open_ & t.chargepoint_id.in_(sorted(w.chargepoints)))
    return or_(*conditions) if conditions else false()


async def lock_batch(session: AsyncSession, deliveries: Sequence[DeliveryLike]) -> None:
    """Lock the batch's id tags, then its transactions, each in ascending key order."""
    w = wanted(deliveries)
    if w.tags:
        lowered = sorted({tag.lower() for tag in w.tags})
        await session.execute(
            select(IdTag.id_token)
            .where(func.lower(IdTag.id_token).in_(lowered))
            .order_by(IdTag.id_token)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        )
    if w.transaction_ids or w.connectors or w.remote_ids or w.chargepoints:
        t = TRANSACTION.c
        await session.execute(
            select(t.transaction_id)
            .where(_transaction_filter(w))
            .order_by(t.transaction_id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        )
