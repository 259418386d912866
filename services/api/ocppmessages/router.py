"""`/ocpp-messages`: the OCPP message log (operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.api.common import SafeStr, UtcDateTime
from services.api.deps import OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.ocppmessages import service
from services.api.ocppmessages.schemas import Direction, OcppMessageRead
from services.api.pagination import LogPage, PageParams, log_page_of, log_sort_param

router = APIRouter(prefix="/ocpp-messages", tags=["logs"])

MessagePage = Annotated[PageParams, Depends(log_sort_param(service.TIME_FIELD))]
# Row ids are bigint identities.
MessageId = Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807)]


@router.get("", response_model=LogPage[OcppMessageRead], responses=error_responses(401, 403, 422))
async def list_messages(
    _: OperatorUser,
    session: SessionDep,
    page: MessagePage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    action: Annotated[SafeStr | None, Query(max_length=64)] = None,
    direction: Direction | None = None,
    message_type: Annotated[
        int | None, Query(ge=2, le=6, description="2 CALL, 3 CALLRESULT, 4 CALLERROR")
    ] = None,
    unique_id: Annotated[SafeStr | None, Query(max_length=64)] = None,
    after: Annotated[UtcDateTime | None, Query(description="inclusive")] = None,
    before: Annotated[UtcDateTime | None, Query(description="exclusive")] = None,
) -> LogPage[OcppMessageRead]:
    """OCPP frames, newest first by default; page on with `cursor` = `next_cursor`."""
    rows, total, estimated, next_cursor = await service.list_messages(
        session=session,
        params=page,
        chargepoint_id=chargepoint_id,
        action=action,
        direction=direction,
        message_type=message_type,
        unique_id=unique_id,
        after=after,
        before=before,
    )
    return log_page_of(OcppMessageRead, rows, total, estimated, next_cursor, page)


@router.get(
    "/{message_id}", response_model=OcppMessageRead, responses=error_responses(401, 403, 404, 422)
)
async def read_message(
    _: OperatorUser, session: SessionDep, message_id: MessageId
) -> OcppMessageRead:
    """One frame by its row id."""
    return OcppMessageRead.model_validate(
        await service.get_message(session=session, message_id=message_id)
    )
