"""`/api-keys`: keys for third-party apps (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from services.api.apikeys import service
from services.api.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from services.api.deps import AdminUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import Page, PageParams, sort_param

router = APIRouter(prefix="/api-keys", tags=["api-keys"])

KeyPage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "-created_at"))]


@router.get("", response_model=Page[ApiKeyRead], responses=error_responses(401, 403, 422))
async def list_keys(
    _: AdminUser, session: SessionDep, page: KeyPage, include_revoked: bool = False
) -> Page[ApiKeyRead]:
    """API keys (never the keys themselves)."""
    rows, total = await service.list_keys(
        session=session, params=page, include_revoked=include_revoked
    )
    return Page[ApiKeyRead](
        items=[ApiKeyRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def create_key(
    principal: AdminUser, session: SessionDep, body: ApiKeyCreate
) -> ApiKeyCreated:
    """Create a key; the answer holds the key, shown this once only."""
    row, key = await service.create_key(session=session, data=body, created_by=principal.user_id)
    return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)


@router.get("/{key_id}", response_model=ApiKeyRead, responses=error_responses(401, 403, 404, 422))
async def read_key(_: AdminUser, session: SessionDep, key_id: uuid.UUID) -> ApiKeyRead:
    """One key's metadata."""
    return ApiKeyRead.model_validate(await service.get_key(session=session, key_id=key_id))


@router.delete(
    "/{key_id}", response_model=ApiKeyRead, responses=error_responses(401, 403, 404, 422)
)
async def revoke_key(_: AdminUser, session: SessionDep, key_id: uuid.UUID) -> ApiKeyRead:
    """Revoke a key: it stops working at once."""
    return ApiKeyRead.model_validate(await service.revoke_key(session=session, key_id=key_id))
