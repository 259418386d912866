"""The OCPP message log (read)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.errors import NotFound
from services.api.pagination import PageParams, paginate_log, where_between, where_equal
from shared.db.models import OcppMessage

TIME_FIELD = "created_at"


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
) -> tuple[list[OcppMessage], int, bool, str | None]:
    """Frames matching the filters."""
    stmt = where_equal(
        select(OcppMessage),
        (OcppMessage.chargepoint_id, chargepoint_id),
        (OcppMessage.action, action),
        (OcppMessage.direction, direction),
        (OcppMessage.message_type, message_type),
        (OcppMessage.unique_id, unique_id),
    )
    stmt = where_between(stmt, OcppMessage.created_at, after, before)
    return await paginate_log(
        session, stmt, params=params, column=OcppMessage.created_at, tiebreak=OcppMessage.id
    )


async def get_message(*, session: AsyncSession, message_id: int) -> OcppMessage:
    """One frame by its row id, or NotFound."""
    row = await session.get(OcppMessage, message_id)
    if row is None:
        raise NotFound("OCPP message", message_id)
    return row
