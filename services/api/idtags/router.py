"""`/idtags`: authorization identifiers; drivers see their own, operators manage them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import Response

from services.api.common import SafeStr
from services.api.deps import CurrentUser, OperatorUser, SessionDep, SettingsDep
from services.api.errors import error_responses
from services.api.idtags import service
from services.api.idtags.schemas import IdTagCreate, IdTagRead, IdTagUpdate
from services.api.pagination import Page, PageParams, sort_param
from shared.db.models import IdTag

router = APIRouter(prefix="/idtags", tags=["idtags"])

IdTagPage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "id_token"))]
IdTokenPath = Annotated[SafeStr, Path(min_length=1, max_length=255)]


def to_read(tag: IdTag) -> IdTagRead:
    """The API view of an id tag, with its current status."""
    data = {name: getattr(tag, name, None) for name in IdTagRead.model_fields}
    data["status"] = service.status_of(tag)
    return IdTagRead.model_validate(data)


@router.get("", response_model=Page[IdTagRead], responses=error_responses(401, 422))
async def list_idtags(
    principal: CurrentUser,
    session: SessionDep,
    page: IdTagPage,
    user_id: uuid.UUID | None = None,
    revoked: bool | None = None,
    expired: bool | None = None,
    parent_id_tag: Annotated[SafeStr | None, Query(max_length=255)] = None,
    q: Annotated[SafeStr | None, Query(max_length=255, description="token substring")] = None,
) -> Page[IdTagRead]:
    """Id tags (a driver sees only their own)."""
    rows, total = await service.list_idtags(
        session=session,
        principal=principal,
        params=page,
        user_id=user_id,
        revoked=revoked,
        expired=expired,
        parent_id_tag=parent_id_tag,
        q=q,
    )
    return Page[IdTagRead](
        items=[to_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "",
    response_model=IdTagRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def create_idtag(
    _: OperatorUser, session: SessionDep, settings: SettingsDep, body: IdTagCreate
) -> IdTagRead:
    """Create an id tag (operators and admins); `max_active_transactions` defaults to
    CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS (unset: unlimited)."""
    tag = await service.create_idtag(
        session=session, data=body, default_max_active=settings.default_max_active_transactions
    )
    return to_read(tag)


@router.get("/{id_token}", response_model=IdTagRead, responses=error_responses(401, 404, 422))
async def read_idtag(
    principal: CurrentUser, session: SessionDep, id_token: IdTokenPath
) -> IdTagRead:
    """One id tag (404 for a driver asking for someone else's)."""
    return to_read(await service.get_idtag(session=session, principal=principal, id_token=id_token))


@router.patch(
    "/{id_token}",
    response_model=IdTagRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_idtag(
    principal: OperatorUser, session: SessionDep, id_token: IdTokenPath, body: IdTagUpdate
) -> IdTagRead:
    """Change expiry, revoke / un-revoke, link to a user, set the parent or the limit of open
    transactions (`max_active_transactions`, null = unlimited)."""
    tag = await service.update_idtag(
        session=session, principal=principal, id_token=id_token, data=body
    )
    return to_read(tag)


@router.delete(
    "/{id_token}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def delete_idtag(
    principal: OperatorUser, session: SessionDep, id_token: IdTokenPath
) -> Response:
    """Delete an id tag (to block it but keep it, PATCH `revoked: true`)."""
    await service.delete_idtag(session=session, principal=principal, id_token=id_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
