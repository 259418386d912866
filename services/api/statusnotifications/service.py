"""Status notification history (read)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.pagination import PageParams, paginate_log, where_between, where_equal
from shared.db.models import StatusNotification

TIME_FIELD = "received_at"


async def list_status_notifications(
    *,
    session: AsyncSession,
    params: PageParams,
    chargepoint_id: str | None = None,
    connectorid: int | None = None,
    status: str | None = None,
    error_code: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> tuple[list[StatusNotification], int, bool, str | None]:
    """Notifications matching the filters; the time range applies to when they were received."""
    stmt = where_equal(
        select(StatusNotification),
        (StatusNotification.chargepoint_id, chargepoint_id),
        (StatusNotification.connectorid, connectorid),
        (StatusNotification.status, status),
        (StatusNotification.error_code, error_code),
    )
    stmt = where_between(stmt, StatusNotification.received_at, after, before)
    return await paginate_log(
        session,
        stmt,
        params=params,
        column=StatusNotification.received_at,
        tiebreak=StatusNotification.id,
    )
