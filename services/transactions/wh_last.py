"""`transaction.wh_meter_last` from MeterValues: aggregated per batch, newest reading wins.

Handlers call `schedule`; the readings of a whole batch are applied by ONE UPDATE just before
the batch's transaction commits (a `before_commit` hook on the batch's session, registered on
first use).

Reordering: `transaction.wh_meter_last_at` is the timestamp of the reading behind
`wh_meter_last` (StartTransaction sets the start, StopTransaction the stop). A reading
replaces it only when strictly newer, and never after StopTransaction (status Completed:
meterStop is the final reading). The check is part of the UPDATE's WHERE, which Postgres
re-evaluates on the locked row, so competing replicas committing readings of the same
transaction at the same moment cannot leave the older one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

_PENDING = "transactions.wh_meter_last"
_LISTENING = "transactions.wh_meter_last.listening"

UPDATE_WH_LAST = text(
    """
    UPDATE "transaction" AS t
    SET wh_meter_last = v.wh, wh_meter_last_at = v.ts, updated_at = now()
    FROM (
        SELECT unnest(CAST(:ids AS integer[])) AS id,
               unnest(CAST(:ts AS timestamptz[])) AS ts,
               unnest(CAST(:wh AS integer[])) AS wh,
               unnest(CAST(:cp AS text[])) AS cp
    ) AS v
    WHERE t.transaction_id = v.id
      AND t.chargepoint_id = v.cp
      AND t.status = 'Active'
      AND (t.wh_meter_last_at IS NULL OR t.wh_meter_last_at < v.ts)
    """
)


Pending = dict[int, tuple[datetime, int, str]]
"""transaction id -> (timestamp, Wh, charge point id) of its newest reading in the batch."""


def schedule(
    session: AsyncSession, chargepoint_id: str, transaction_id: int, timestamp: datetime, wh: int
) -> None:
    """Queue a reading for the batch's UPDATE; within a batch the newest timestamp wins.

    Only the charge point's own transaction is updated: a MeterValues naming another charge
    point's transaction id is stored as reported but changes nothing.
    """
    info = session.info
    if not info.get(_LISTENING):
        event.listen(session.sync_session, "before_commit", _apply)
        info[_LISTENING] = True
    pending: Pending = info.setdefault(_PENDING, {})
    current = pending.get(transaction_id)
    if current is None or timestamp >= current[0]:
        pending[transaction_id] = (timestamp, wh, chargepoint_id)


def _apply(session: Session) -> None:
    """Run the aggregated UPDATE (sync: SQLAlchemy runs this hook inside the async bridge)."""
    pending: Pending | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    ids = sorted(pending)  # a stable lock order between concurrent batches
    params: dict[str, Any] = {
        "ids": ids,
        "ts": [pending[i][0] for i in ids],
        "wh": [pending[i][1] for i in ids],
        "cp": [pending[i][2] for i in ids],
    }
    session.execute(UPDATE_WH_LAST, params)
