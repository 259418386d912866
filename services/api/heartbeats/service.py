"""Heartbeat history (read)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.pagination import PageParams, paginate_log, where_between, where_equal
from shared.db.models import Heartbeat

TIME_FIELD = "timestamp"


async def list_heartbeats(
    *,
    session: AsyncSession,
    params: PageParams,
    chargepoint_id: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> tuple[list[Heartbeat], int, bool, str | None]:
    """Heartbeats matching the filters."""
    stmt = where_equal(select(Heartbeat), (Heartbeat.chargepoint_id, chargepoint_id))
    stmt = where_between(stmt, Heartbeat.timestamp, after, before)
    return await paginate_log(
        session, stmt, params=params, column=Heartbeat.timestamp, tiebreak=Heartbeat.id
    )
