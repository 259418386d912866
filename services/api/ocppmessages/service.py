"""The OCPP message log (read)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.errors import NotFound
from services.api.pagination import PageParams, paginate
from shared.db.models import OcppMessage

SORT_FIELDS = ("created_at", "action")
_COLUMNS = {"created_at": OcppMessage.created_at, "action": OcppMessage.action}


async def list_messages(
    *,
    session: AsyncSession,
    params: PageParams,
    chargepoint_id: str | None = None,
    action: str | None = None,
    direction: str | None = None,
    message_type: int | None = None,
    unique_id: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> tuple[list[OcppMessage], int]:
    """Frames matching the filters."""
    stmt = select(OcppMessage)
    if chargepoint_id is not None:
        stmt = stmt.where(OcppMessage.chargepoint_id == chargepoint_id)
    if action is not None:
        stmt = stmt.where(OcppMessage.action == action)
    if direction is not None:
        stmt = stmt.where(OcppMessage.direction == direction)
    if message_type is not None:
        stmt = stmt.where(OcppMessage.message_type == message_type)
    if unique_id is not None:
        stmt = stmt.where(OcppMessage.unique_id == unique_id)
    if after is not None:
        stmt = stmt.where(OcppMessage.created_at >= after)
    if before is not None:
        stmt = stmt.where(OcppMessage.created_at < before)
    return await paginate(session, stmt, params=params, columns=_COLUMNS, tiebreak=OcppMessage.id)


async def get_message(*, session: AsyncSession, message_id: int) -> OcppMessage:
    """One frame by its row id, or NotFound."""
    row = await session.get(OcppMessage, message_id)
    if row is None:
        raise NotFound("OCPP message", message_id)
    return row
