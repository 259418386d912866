"""Per-charge-point sequence numbers handed out in commit order (command_sequence,
event_sequence): shared/command_outbox.py and shared/events/outbox.py."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def take_seqs(
    session: AsyncSession, table: Table, counts: Mapping[str, int]
) -> dict[str, int]:
    """Take `counts[key]` numbers from each key's row of a sequence table (`chargepoint_id`,
    `last_seq`, `updated_at`: command_sequence, event_sequence); the last number taken per
    key, so a key's numbers are `last - count + 1 .. last`. The rows stay locked until
    commit, taken in key order (writers locking several never deadlock on them), so the
    numbers of one key commit in increasing order."""
    keys = sorted(counts)
    stmt = pg_insert(table).values(
        [{"chargepoint_id": key, "last_seq": counts[key]} for key in keys]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["chargepoint_id"],
        set_={"last_seq": table.c.last_seq + stmt.excluded.last_seq, "updated_at": func.now()},
    )
    rows = (await session.execute(stmt.returning(table.c.chargepoint_id, table.c.last_seq))).all()
    return {row.chargepoint_id: int(row.last_seq) for row in rows}
