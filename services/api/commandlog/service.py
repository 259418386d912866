"""The command log (read)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.errors import NotFound
from services.api.pagination import PageParams, paginate_log, where_between, where_equal
from shared.db.models import CommandLog

TIME_FIELD = "created_at"


async def list_commands(
    *,
    session: AsyncSession,
    params: PageParams,
    chargepoint_id: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> tuple[list[CommandLog], int, bool, str | None]:
    """Commands matching the filters (time range on when they were sent)."""
    stmt = where_equal(
        select(CommandLog),
        (CommandLog.chargepoint_id, chargepoint_id),
        (CommandLog.action, action),
        (CommandLog.outcome, outcome),
    )
    stmt = where_between(stmt, CommandLog.created_at, after, before)
    return await paginate_log(
        session,
        stmt,
        params=params,
        column=CommandLog.created_at,
        tiebreak=CommandLog.id,
        id_type=uuid.UUID,
    )


async def get_command(*, session: AsyncSession, command_id: uuid.UUID) -> CommandLog:
    """One command, or NotFound."""
    row = await session.get(CommandLog, command_id)
    if row is None:
        raise NotFound("command", command_id)
    return row
