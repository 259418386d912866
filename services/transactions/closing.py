"""Open transactions the charge point never stopped: closing them with an estimate.

A charge point that loses power or is killed mid-transaction, reboots and starts again on
the same connector often never sends the old StopTransaction (OCPP-NOTES, *What real chargers
do*). Left `Active`, such a row would count against its tag's limit forever. The CSMS closes
it itself, each way with its own `reason_stopped` and a `transaction.stopped` event with
`closed_by: csms` (shared/txevents.py):

- **Superseded**: a new transaction started on the same connector (`supersede`): a
  connector runs one transaction at a time, the one that started last.
- **Stale** / **Rebooted**: the connector was reported Available (the charge point has no
  transaction on it) and no stop came within CSMS_STALE_TRANSACTION_GRACE (sweeper.py);
  Rebooted when the charge point booted meanwhile (events.py).

The estimate is what the CSMS knows for sure: `wh_meter_stop` = `wh_meter_last` (the last
reading) at `stop_transaction_timestamp` = the time of that reading (the start if none), so
nothing unmeasured is billed. `closed_by` = "csms". A StopTransaction (or Ended) that arrives
later, e.g. from the charger's offline queue, replaces the estimate (`correction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.transactions.tables import TRANSACTION
from shared.db.enums import TX_ACTIVE, TX_COMPLETED
from shared.dispatch import HandlerContext
from shared.txevents import (
    CLOSED_BY_CSMS,
    TRANSACTION_STOPPED,
    estimate_of,
    stopped_payload,
)

SUPERSEDED = "Superseded"
STALE = "Stale"
REBOOTED = "Rebooted"
ADMINISTRATIVE = "Administrative"

t = TRANSACTION.c

CLOSED_COLUMNS = (
    t.transaction_id,
    t.chargepoint_id,
    t.connectorid,
    t.remote_transaction_id,
    t.wh_meter_start,
    t.wh_meter_stop,
    t.reason_stopped,
    t.stop_transaction_timestamp,
)


async def close_estimated(
    session: AsyncSession,
    ids: Sequence[int],
    *,
    reason: str | ColumnElement[Any],
    now: datetime,
) -> list[Row[Any]]:
    """Close those of `ids` still open with the CSMS's estimate; the rows closed.

    The caller holds the rows' locks (taken in ascending id order) or takes them here.
    """
    if not ids:
        return []
    reason_value = literal(reason) if isinstance(reason, str) else reason
    result = await session.execute(
        update(TRANSACTION)
        .where(t.transaction_id.in_(sorted(ids)), t.status == TX_ACTIVE)
        .values(
            status=TX_COMPLETED,
            reason_stopped=reason_value,
            closed_by=CLOSED_BY_CSMS,
            wh_meter_stop=t.wh_meter_last,
            stop_transaction_timestamp=func.greatest(
                func.coalesce(t.wh_meter_last_at, t.start_transaction_timestamp),
                t.start_transaction_timestamp,
            ),
            updated_at=now,
        )
        .returning(*CLOSED_COLUMNS)
    )
    return list(result.all())


def rebooted_or_stale() -> ColumnElement[Any]:
    """The reason of a close by the sweep: Rebooted if the charge point booted meanwhile."""
    return case((t.rebooted_at.is_not(None), literal(REBOOTED)), else_=literal(STALE))


def closed_event(row: Row[Any]) -> dict[str, Any]:
    """The `transaction.stopped` payload of a transaction the CSMS closed."""
    return stopped_payload(
        transaction_id=row.transaction_id,
        connector_id=row.connectorid,
        meter_start=row.wh_meter_start,
        meter_stop=row.wh_meter_stop,
        reason=row.reason_stopped,
        timestamp=row.stop_transaction_timestamp,
        outcome="closed",
        closed_by="csms",
        remote_transaction_id=row.remote_transaction_id,
    )


async def supersede(
    ctx: HandlerContext, chargepoint_id: str, connector_id: int, transaction_id: int
) -> list[int]:
    """One open transaction per connector: close the others as Superseded; the ids closed.

    `transaction_id` has just started on the connector (or just named it). Of the connector's
    open transactions and this one, the one that started last stays open; normally that is
    this one, but a start replayed late from an offline queue is itself the older one and is
    closed (its own StopTransaction, still queued, will correct it).
    """
    if connector_id <= 0:  # connectorId 0 / an EVSE not named yet: not a connector
        return []
    rows = (
        await ctx.session.execute(
            select(t.transaction_id, t.start_transaction_timestamp, t.status)
            .where(
                t.chargepoint_id == chargepoint_id,
                t.connectorid == connector_id,
                (t.status == TX_ACTIVE) | (t.transaction_id == transaction_id),
            )
            .order_by(t.transaction_id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        )
    ).all()
    if len(rows) < 2:
        return []
    newest = max(rows, key=lambda r: (r.start_transaction_timestamp, r.transaction_id))
    stale = [r.transaction_id for r in rows if r.transaction_id != newest.transaction_id]
    closed = await close_estimated(ctx.session, stale, reason=SUPERSEDED, now=ctx.now)
    for row in closed:
        ctx.emit(TRANSACTION_STOPPED, closed_event(row), chargepoint_id)
    return [row.transaction_id for row in closed]


def correction(row: Any, *, now: datetime) -> dict[str, Any]:
    """The columns that keep a close's estimate when a reported stop replaces it."""
    return {
        "corrected_at": now,
        "estimated_wh_meter_stop": row.wh_meter_stop,
        "estimated_stop_timestamp": row.stop_transaction_timestamp,
        "estimated_reason_stopped": row.reason_stopped,
        "estimated_closed_by": row.closed_by,
        "closed_by": None,
    }


def previous_of(row: Any) -> dict[str, Any]:
    """The `previous` member of the `corrected` event: the estimate being replaced."""
    return estimate_of(
        meter_stop=row.wh_meter_stop,
        timestamp=row.stop_transaction_timestamp,
        reason=row.reason_stopped,
        closed_by=row.closed_by,
    )


def is_estimate(row: Any) -> bool:
    """A Completed transaction the CSMS or an operator closed, not the charge point."""
    return bool(row.status == TX_COMPLETED and row.closed_by is not None)
