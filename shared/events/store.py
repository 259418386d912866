"""Reading the event outbox in a gapless order, for the stream and its resume.

Positions are handed out when a row is inserted, not when its transaction commits, so a
reader that saw position 10 may later see 9 commit. Rows are therefore read in
(txid, position) order and only from transactions older than the oldest one still running
(`pg_snapshot_xmin`): those are final, nothing can be added before them any more. A cursor
`<txid>-<position>` (the SSE event id) marks how far a reader got; resuming after it misses
nothing and repeats nothing. A long-running transaction anywhere on the database server
holds new events back until it ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import text

from shared.events.outbox import public_json

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_CURSOR = re.compile(r"^(\d{1,20})-(\d{1,20})$")
MAX_BIGINT: Final = 2**63 - 1


@dataclass(frozen=True, order=True)
class Cursor:
    """How far a reader got: the (txid, position) of the last event it took."""

    txid: int
    position: int

    def __str__(self) -> str:
        return f"{self.txid}-{self.position}"


def parse_cursor(value: str) -> Cursor | None:
    """A cursor from a Last-Event-ID; None when it is not one."""
    match = _CURSOR.match(value.strip())
    if match is None:
        return None
    txid, position = int(match.group(1)), int(match.group(2))
    if txid > MAX_BIGINT or position > MAX_BIGINT:
        return None
    return Cursor(txid, position)


@dataclass(frozen=True)
class StoredEvent:
    """An event read back: its cursor, scoping columns and public JSON."""

    cursor: Cursor
    type: str
    chargepoint_id: str | None
    location_id: str | None
    id_tag: str | None
    event: dict[str, Any]


_SETTLED = "txid < pg_snapshot_xmin(pg_current_snapshot())"

_READ = text(
    f"""
    SELECT position, txid::text::bigint AS txid, id, type, chargepoint_id, location_id,
           id_tag, seq, occurred_at, data
    FROM event_outbox
    WHERE (txid, position) > (CAST(CAST(:txid AS text) AS xid8), :position) AND {_SETTLED}
    ORDER BY txid, position
    LIMIT :limit
    """
)


async def head(session: AsyncSession) -> Cursor:
    """The cursor of "now": every settled event is behind it, every later one after it."""
    xmin = (
        await session.execute(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
    ).scalar_one()
    return Cursor(int(xmin) - 1, MAX_BIGINT)


async def read_after(session: AsyncSession, cursor: Cursor, limit: int = 500) -> list[StoredEvent]:
    """The settled events after `cursor`, in order, at most `limit`."""
    rows = (
        await session.execute(
            _READ, {"txid": str(cursor.txid), "position": cursor.position, "limit": limit}
        )
    ).all()
    return [
        StoredEvent(
            cursor=Cursor(int(r.txid), int(r.position)),
            type=r.type,
            chargepoint_id=r.chargepoint_id,
            location_id=str(r.location_id) if r.location_id is not None else None,
            id_tag=r.id_tag,
            event=public_json(dict(r._mapping)),
        )
        for r in rows
    ]


async def oldest(session: AsyncSession) -> Cursor | None:
    """The cursor of the oldest event kept (older ones were pruned)."""
    row = (
        await session.execute(
            text(
                "SELECT txid::text::bigint AS txid, position FROM event_outbox "
                "ORDER BY txid, position LIMIT 1"
            )
        )
    ).first()
    return Cursor(int(row.txid), int(row.position)) if row is not None else None
