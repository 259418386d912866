"""`/status-notifications`: history of what charge points reported (operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.api.common import INT32_MAX, SafeStr, UtcDateTime
from services.api.deps import OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import LogPage, PageParams, log_page_of, log_sort_param
from services.api.statusnotifications import service
from services.api.statusnotifications.schemas import StatusNotificationRead

router = APIRouter(prefix="/status-notifications", tags=["history"])

StatusPage = Annotated[PageParams, Depends(log_sort_param(service.TIME_FIELD))]


@router.get(
    "", response_model=LogPage[StatusNotificationRead], responses=error_responses(401, 403, 422)
)
async def list_status_notifications(
    _: OperatorUser,
    session: SessionDep,
    page: StatusPage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    connectorid: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    status: Annotated[SafeStr | None, Query(max_length=50)] = None,
    error_code: Annotated[SafeStr | None, Query(max_length=50)] = None,
    after: Annotated[UtcDateTime | None, Query(description="received at or after")] = None,
    before: Annotated[UtcDateTime | None, Query(description="received before")] = None,
) -> LogPage[StatusNotificationRead]:
    """Status notifications, newest first by default; page on with `cursor` = `next_cursor`."""
    rows, total, estimated, next_cursor = await service.list_status_notifications(
        session=session,
        params=page,
        chargepoint_id=chargepoint_id,
        connectorid=connectorid,
        status=status,
        error_code=error_code,
        after=after,
        before=before,
    )
    return log_page_of(StatusNotificationRead, rows, total, estimated, next_cursor, page)
