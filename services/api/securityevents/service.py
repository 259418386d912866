"""Security event history (read)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.pagination import PageParams, paginate_log, where_between, where_equal
from shared.db.models import SecurityEvent

TIME_FIELD = "occurred_at"


async def list_security_events(
    *,
    session: AsyncSession,
    params: PageParams,
    chargepoint_id: str | None = None,
    source: str | None = None,
    event_type: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> tuple[list[SecurityEvent], int, bool, str | None]:
    """Security events matching the filters."""
    stmt = where_equal(
        select(SecurityEvent),
        (SecurityEvent.chargepoint_id, chargepoint_id),
        (SecurityEvent.source, source),
        (SecurityEvent.type, event_type),
    )
    stmt = where_between(stmt, SecurityEvent.occurred_at, after, before)
    return await paginate_log(
        session, stmt, params=params, column=SecurityEvent.occurred_at, tiebreak=SecurityEvent.id
    )
