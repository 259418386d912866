"""`transaction.wh_meter_last` from MeterValues: aggregated per batch, newest reading wins.

Handlers add their reading to the batch's `WhLastUpdate` step
(`ctx.uow.step(WhLastUpdate).add(...)`); the readings of a whole batch are applied by ONE
UPDATE when the dispatcher flushes the batch's unit of work, after its bulk rows and before
it commits (shared/dispatch.py, step 4).

Reordering: `transaction.wh_meter_last_at` is the timestamp of the reading behind
`wh_meter_last` (StartTransaction sets the start, StopTransaction the stop). A reading
replaces it only when strictly newer, and never after StopTransaction (status Completed, or
a Rejected transaction with its stop recorded: meterStop is the final reading). A Rejected
transaction not stopped yet is still measured: the charge point may go on (1.6
StopTransactionOnInvalidId false) and its readings are what it consumed. The check is part
of the UPDATE's WHERE, which Postgres re-evaluates on the locked row, so competing replicas
committing readings of the same transaction at the same moment cannot leave the older one.

Lock order (no deadlocks, services/transactions/locks.py): the batch's `before_batch` step has
normally locked these rows already; the UPDATE is preceded by a locking SELECT in ascending
transaction id all the same, because an UPDATE ... FROM locks rows in whatever order its
plan visits them (a sorted array does not make a sorted lock order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

LOCK_ROWS = text(
    """
    SELECT transaction_id FROM "transaction"
    WHERE transaction_id = ANY(CAST(:ids AS integer[]))
    ORDER BY transaction_id
    FOR NO KEY UPDATE
    """
)

UPDATE_WH_LAST = text(
    """
    UPDATE "transaction" AS t
    SET wh_meter_last = v.wh, wh_meter_last_at = v.ts, updated_at = now()
    FROM (
        SELECT unnest(CAST(:ids AS integer[])) AS id,
               unnest(CAST(:ts AS timestamptz[])) AS ts,
               unnest(CAST(:wh AS numeric[])) AS wh,
               unnest(CAST(:cp AS text[])) AS cp
    ) AS v
    WHERE t.transaction_id = v.id
      AND t.chargepoint_id = v.cp
      AND t.status <> 'Completed'
      AND t.stop_transaction_timestamp IS NULL
      AND (t.wh_meter_last_at IS NULL OR t.wh_meter_last_at < v.ts)
    """
)


Pending = dict[int, tuple[datetime, Decimal, str]]
"""transaction id -> (timestamp, Wh, charge point id) of its newest reading in the batch."""


@dataclass
class WhLastUpdate:
    """A batch step (shared/dispatch.BatchStep): the batch's newest reading per transaction,
    written by one UPDATE at the end of the batch."""

    pending: Pending = field(default_factory=dict)

    def add(
        self, chargepoint_id: str, transaction_id: int, timestamp: datetime, wh: Decimal
    ) -> None:
        """Queue a reading; within a batch the newest timestamp wins.

        Only the charge point's own transaction is updated: a MeterValues naming another
        charge point's transaction id is stored as reported but changes nothing.
        """
        current = self.pending.get(transaction_id)
        if current is None or timestamp >= current[0]:
            self.pending[transaction_id] = (timestamp, wh, chargepoint_id)

    async def run(self, session: AsyncSession) -> None:
        """Lock the rows in ascending id, then run the aggregated UPDATE."""
        if not self.pending:
            return
        ids = sorted(self.pending)
        params: dict[str, Any] = {
            "ids": ids,
            "ts": [self.pending[i][0] for i in ids],
            "wh": [self.pending[i][1] for i in ids],
            "cp": [self.pending[i][2] for i in ids],
        }
        self.pending = {}
        await session.execute(LOCK_ROWS, {"ids": ids})
        await session.execute(UPDATE_WH_LAST, params)
