"""`/command-log`: commands sent to charge points (operators and admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.api.commandlog import service
from services.api.commandlog.schemas import CommandLogRead, CommandOutcome
from services.api.common import SafeStr, UtcDateTime
from services.api.deps import OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import LogPage, PageParams, log_page_of, log_sort_param

router = APIRouter(prefix="/command-log", tags=["logs"])

CommandPage = Annotated[PageParams, Depends(log_sort_param(service.TIME_FIELD))]


@router.get("", response_model=LogPage[CommandLogRead], responses=error_responses(401, 403, 422))
async def list_commands(
    _: OperatorUser,
    session: SessionDep,
    page: CommandPage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    action: Annotated[SafeStr | None, Query(max_length=64)] = None,
    outcome: CommandOutcome | None = None,
    after: Annotated[UtcDateTime | None, Query(description="inclusive")] = None,
    before: Annotated[UtcDateTime | None, Query(description="exclusive")] = None,
) -> LogPage[CommandLogRead]:
    """Commands, newest first by default; page on with `cursor` = `next_cursor`."""
    rows, total, estimated, next_cursor = await service.list_commands(
        session=session,
        params=page,
        chargepoint_id=chargepoint_id,
        action=action,
        outcome=outcome,
        after=after,
        before=before,
    )
    return log_page_of(CommandLogRead, rows, total, estimated, next_cursor, page)


@router.get(
    "/{command_id}", response_model=CommandLogRead, responses=error_responses(401, 403, 404, 422)
)
async def read_command(
    _: OperatorUser, session: SessionDep, command_id: uuid.UUID
) -> CommandLogRead:
    """One command by its correlation id."""
    return CommandLogRead.model_validate(
        await service.get_command(session=session, command_id=command_id)
    )
