"""Status notification history (read)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.pagination import PageParams, paginate
from shared.db.models import StatusNotification

SORT_FIELDS = ("received_at", "timestamp")
_COLUMNS = {
    "received_at": StatusNotification.received_at,
    "timestamp": StatusNotification.timestamp,
}


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
) -> tuple[list[StatusNotification], int]:
    """Notifications matching the filters; the time range applies to when they were received."""
    stmt = select(StatusNotification)
    if chargepoint_id is not None:
        stmt = stmt.where(StatusNotification.chargepoint_id == chargepoint_id)
    if connectorid is not None:
        stmt = stmt.where(StatusNotification.connectorid == connectorid)
    if status is not None:
        stmt = stmt.where(StatusNotification.status == status)
    if error_code is not None:
        stmt = stmt.where(StatusNotification.error_code == error_code)
    if after is not None:
        stmt = stmt.where(StatusNotification.received_at >= after)
    if before is not None:
        stmt = stmt.where(StatusNotification.received_at < before)
    return await paginate(
        session, stmt, params=params, columns=_COLUMNS, tiebreak=StatusNotification.id
    )
