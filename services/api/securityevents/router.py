"""`/security-events`: security events of charge points and of the CSMS (operators, admins)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from services.api.common import SafeStr, UtcDateTime
from services.api.deps import OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import LogPage, PageParams, log_page_of, log_sort_param
from services.api.securityevents import service
from services.api.securityevents.schemas import SecurityEventRead

router = APIRouter(prefix="/security-events", tags=["history"])

SecurityEventPage = Annotated[PageParams, Depends(log_sort_param(service.TIME_FIELD))]


@router.get("", response_model=LogPage[SecurityEventRead], responses=error_responses(401, 403, 422))
async def list_security_events(
    _: OperatorUser,
    session: SessionDep,
    page: SecurityEventPage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    source: Literal["chargepoint", "csms"] | None = None,
    type: Annotated[  # the OCPP field name
        SafeStr | None, Query(max_length=50, description="e.g. FailedToAuthenticateAtCsms")
    ] = None,
    after: Annotated[UtcDateTime | None, Query(description="inclusive")] = None,
    before: Annotated[UtcDateTime | None, Query(description="exclusive")] = None,
) -> LogPage[SecurityEventRead]:
    """SecurityEventNotifications charge points sent (`source=chargepoint`) and what the CSMS
    recorded (`source=csms`: connections refused below a station's security profile, profile
    upgrades), newest first by default; page on with `cursor` = `next_cursor`."""
    rows, total, estimated, next_cursor = await service.list_security_events(
        session=session,
        params=page,
        chargepoint_id=chargepoint_id,
        source=source,
        event_type=type,
        after=after,
        before=before,
    )
    return log_page_of(SecurityEventRead, rows, total, estimated, next_cursor, page)
