"""`/charging-profiles` (read; operators and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.api.chargingprofiles import service
from services.api.chargingprofiles.schemas import (
    ChargingProfileDetail,
    ChargingProfileRead,
    InstallationRead,
    Purpose,
)
from services.api.common import INT32_MAX, SafeStr
from services.api.deps import OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import Page, PageParams, sort_param

router = APIRouter(prefix="/charging-profiles", tags=["charging-profiles"])

ProfilePage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "chargingprofile_id"))]
ProfileId = Annotated[int, Path(ge=1, le=INT32_MAX)]


@router.get("", response_model=Page[ChargingProfileRead], responses=error_responses(401, 403, 422))
async def list_profiles(
    _: OperatorUser,
    session: SessionDep,
    page: ProfilePage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    connector_id: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    purpose: Purpose | None = None,
    transaction_id: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
) -> Page[ChargingProfileRead]:
    """Charging profiles, filtered by target, purpose, transaction."""
    rows, total = await service.list_profiles(
        session=session,
        params=page,
        chargepoint_id=chargepoint_id,
        connector_id=connector_id,
        purpose=purpose,
        transaction_id=transaction_id,
    )
    return Page[ChargingProfileRead](
        items=[ChargingProfileRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{chargingprofile_id}",
    response_model=ChargingProfileDetail,
    responses=error_responses(401, 403, 404, 422),
)
async def read_profile(
    _: OperatorUser, session: SessionDep, chargingprofile_id: ProfileId
) -> ChargingProfileDetail:
    """One charging profile with where it is installed."""
    row = await service.get_profile(session=session, chargingprofile_id=chargingprofile_id)
    return ChargingProfileDetail(
        **ChargingProfileRead.model_validate(row).model_dump(),
        installations=[InstallationRead.model_validate(i) for i in row.installations],
    )
