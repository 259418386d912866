"""`/heartbeats`: heartbeat history (operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.api.common import SafeStr, UtcDateTime
from services.api.deps import OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.heartbeats import service
from services.api.heartbeats.schemas import HeartbeatRead
from services.api.pagination import LogPage, PageParams, log_page_of, log_sort_param

router = APIRouter(prefix="/heartbeats", tags=["history"])

HeartbeatPage = Annotated[PageParams, Depends(log_sort_param(service.TIME_FIELD))]


@router.get("", response_model=LogPage[HeartbeatRead], responses=error_responses(401, 403, 422))
async def list_heartbeats(
    _: OperatorUser,
    session: SessionDep,
    page: HeartbeatPage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    after: Annotated[UtcDateTime | None, Query(description="inclusive")] = None,
    before: Annotated[UtcDateTime | None, Query(description="exclusive")] = None,
) -> LogPage[HeartbeatRead]:
    """Heartbeats, newest first by default; page on with `cursor` = `next_cursor`."""
    rows, total, estimated, next_cursor = await service.list_heartbeats(
        session=session, params=page, chargepoint_id=chargepoint_id, after=after, before=before
    )
    return log_page_of(HeartbeatRead, rows, total, estimated, next_cursor, page)
