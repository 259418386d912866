"""The batch's row locks, taken up front in one global order: Postgres never sees a deadlock.

A batch is one database transaction (shared/dispatch.py): the locks its first handlers take
are held while the later ones run. Two batches that touch the same rows in different orders
(a MeterValues batch's wh_meter_last UPDATE against a batch of StopTransactions, a boot's
closes against a start on the same connector) would wait on each other until Postgres aborts
one. So before any handler runs, `lock_batch` (the Router's `before_batch` step) reads what the
batch will touch from its parsed requests and locks it in one order:

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

from sqlalchemy import ColumnElement, String, any_, bindparam, false, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.transactions.tables import TRANSACTION
from shared.bus.topology import upstream_key
from shared.db.enums import TX_ACTIVE
from shared.db.models import IdTag
from shared.dispatch import Parsed
from shared.event_names import CHARGEPOINT_BOOTED, CONNECTOR_STATUS_CHANGED
from shared.messages import ConnectorStatusChanged
from shared.ocpp import OCPP16, OCPP201
from shared.ocpp.types import INT32_MAX
from shared.ocpp.v16.meter_values_request import MeterValuesRequest as MeterValues16
from shared.ocpp.v16.start_transaction_request import StartTransactionRequest
from shared.ocpp.v16.stop_transaction_request import StopTransactionRequest
from shared.ocpp.v201.common import IdTokenEnumType
from shared.ocpp.v201.meter_values_request import MeterValuesRequest as MeterValues201
from shared.ocpp.v201.transaction_event_request import TransactionEventRequest

__all__ = ["CHARGEPOINT_BOOTED", "CONNECTOR_STATUS_CHANGED", "lock_batch", "wanted"]


@dataclass
class Wanted:
    """What one batch will lock."""

    tags: set[str] = field(default_factory=set)
    transaction_ids: set[int] = field(default_factory=set)
    connectors: set[tuple[str, int]] = field(default_factory=set)
    remote_ids: set[tuple[str, str]] = field(default_factory=set)
    chargepoints: set[str] = field(default_factory=set)

    def transaction(self, value: int | None) -> None:
        if value is not None and 0 < value <= INT32_MAX:  # no row has another id
            self.transaction_ids.add(value)

    def connector(self, chargepoint_id: str, value: int) -> None:
        if 0 < value <= INT32_MAX:
            self.connectors.add((chargepoint_id, value))


def _stop(w: Wanted, cp: str, req: StopTransactionRequest) -> None:
    w.transaction(req.transaction_id)


def _meter_values(w: Wanted, cp: str, req: MeterValues16) -> None:
    w.transaction(req.transaction_id)


def _start(w: Wanted, cp: str, req: StartTransactionRequest) -> None:
    w.connector(cp, req.connector_id)
    w.tags.add(req.id_tag)


def _transaction_event(w: Wanted, cp: str, req: TransactionEventRequest) -> None:
    w.remote_ids.add((cp, req.transaction_info.transaction_id))
    if req.evse is not None:
        w.connector(cp, req.evse.id)
    token = req.id_token
    if token is not None and token.id_token and token.type is not IdTokenEnumType.no_authorization:
        w.tags.add(token.id_token)


def _meter_values_201(w: Wanted, cp: str, req: MeterValues201) -> None:
    w.connector(cp, req.evse_id)


def _connector_status(w: Wanted, cp: str, req: ConnectorStatusChanged) -> None:
    w.connector(cp, req.connector_id)


def _booted(w: Wanted, cp: str, req: Any) -> None:
    w.chargepoints.add(cp)


COLLECTORS: dict[str, Callable[[Wanted, str, Any], None]] = {
    upstream_key(OCPP16, "StopTransaction"): _stop,
    upstream_key(OCPP16, "MeterValues"): _meter_values,
    upstream_key(OCPP16, "StartTransaction"): _start,
    upstream_key(OCPP201, "TransactionEvent"): _transaction_event,
    upstream_key(OCPP201, "MeterValues"): _meter_values_201,
    CONNECTOR_STATUS_CHANGED: _connector_status,
    CHARGEPOINT_BOOTED: _booted,
}
"""Routing key -> what its (parsed) request makes the batch lock."""


def wanted(batch: Sequence[Parsed[Any]]) -> Wanted:
    """What the batch's handlers will lock (pure; only deliveries whose payload parsed
    reach here: a refused one writes nothing)."""
    w = Wanted()
    for parsed in batch:
        collect = COLLECTORS.get(parsed.routing_key)
        if collect is not None:
            collect(w, parsed.envelope.chargepoint_id or "", parsed.request)
    return w


def _transaction_filter(w: Wanted) -> ColumnElement[bool]:
    t = TRANSACTION.c
    open_ = t.status == TX_ACTIVE
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


LOCK_BY_IDS = (
    select(TRANSACTION.c.transaction_id)
    .where(TRANSACTION.c.transaction_id.in_(bindparam("ids", expanding=True)))
    .order_by(TRANSACTION.c.transaction_id)
    .with_for_update(key_share=True)  # FOR NO KEY UPDATE
)
"""The transactions of a batch that names only transaction ids, built once."""


LOCK_OPEN_OF_CHARGEPOINTS = (
    select(TRANSACTION.c.transaction_id, TRANSACTION.c.chargepoint_id)
    .where(
        TRANSACTION.c.status == TX_ACTIVE,
        TRANSACTION.c.chargepoint_id == any_(bindparam("cps", type_=ARRAY(String()))),
    )
    .order_by(TRANSACTION.c.transaction_id)
    .with_for_update(key_share=True)  # FOR NO KEY UPDATE
)
"""The open transactions of a batch that names only charge points (`chargepoint.booted`: a
boot storm), built once; an array parameter, not an expanding IN compiled per batch."""

OPEN_CHARGEPOINTS = "transactions.open_chargepoints"
"""`session.info` key: the charge points of the batch's `Wanted.chargepoints` that have an
open transaction (locked by `lock_batch`). A handler of one whose charge point is not in it
has nothing to update (`chargepoint.booted` of a station with no open transaction: nearly
every boot) and skips its statements."""


async def lock_batch(session: AsyncSession, batch: Sequence[Parsed[Any]]) -> None:
    """Lock the batch's id tags, then its transactions, each in ascending key order."""
    w = wanted(batch)
    if w.tags:
        lowered = sorted({tag.lower() for tag in w.tags})
        await session.execute(
            select(IdTag.id_token)
            .where(func.lower(IdTag.id_token).in_(lowered))
            .order_by(IdTag.id_token)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        )
    if w.transaction_ids and not (w.connectors or w.remote_ids or w.chargepoints):
        # The common batch (1.6 MeterValues, StopTransaction): by id only, prebuilt.
        await session.execute(LOCK_BY_IDS, {"ids": sorted(w.transaction_ids)})
    elif w.chargepoints and not (w.transaction_ids or w.connectors or w.remote_ids):
        rows = await session.execute(LOCK_OPEN_OF_CHARGEPOINTS, {"cps": sorted(w.chargepoints)})
        session.info[OPEN_CHARGEPOINTS] = {row.chargepoint_id for row in rows}
    elif w.transaction_ids or w.connectors or w.remote_ids or w.chargepoints:
        t = TRANSACTION.c
        rows = await session.execute(
            select(t.transaction_id, t.chargepoint_id)
            .where(_transaction_filter(w))
            .order_by(t.transaction_id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        )
        # Every open transaction of `w.chargepoints` is among the rows (and others).
        session.info[OPEN_CHARGEPOINTS] = {row.chargepoint_id for row in rows}
