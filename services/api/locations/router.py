"""`/locations`: sites and their charge points."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import Response

from services.api.common import SafeStr
from services.api.deps import CurrentUser, OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.locations import service
from services.api.locations.schemas import (
    ChargePointSummary,
    LocationCreate,
    LocationDetail,
    LocationRead,
    LocationType,
    LocationUpdate,
)
from services.api.pagination import Page, PageParams, sort_param
from shared.db.models import Location

router = APIRouter(prefix="/locations", tags=["locations"])

LocationPage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "name"))]


async def _detail(session: SessionDep, location: Location) -> LocationDetail:
    chargepoints = await service.location_chargepoints(session=session, location_id=location.uuid)
    return LocationDetail(
        **LocationRead.model_validate(location).model_dump(),
        chargepoints=[ChargePointSummary.model_validate(cp) for cp in chargepoints],
    )


@router.get("", response_model=Page[LocationRead], responses=error_responses(401, 422))
async def list_locations(
    _: CurrentUser,
    session: SessionDep,
    page: LocationPage,
    name: Annotated[SafeStr | None, Query(max_length=255, description="substring")] = None,
    city: Annotated[SafeStr | None, Query(max_length=20)] = None,
    country: Annotated[SafeStr | None, Query(max_length=20)] = None,
    type: LocationType | None = None,
) -> Page[LocationRead]:
    """Locations, filtered by name substring, city, country, type."""
    rows, total = await service.list_locations(
        session=session, params=page, name=name, city=city, country=country, type=type
    )
    return Page[LocationRead](
        items=[LocationRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "",
    response_model=LocationDetail,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def create_location(
    _: OperatorUser, session: SessionDep, body: LocationCreate
) -> LocationDetail:
    """Create a location (operators and admins)."""
    location = await service.create_location(session=session, data=body)
    return await _detail(session, location)


@router.get(
    "/{location_id}", response_model=LocationDetail, responses=error_responses(401, 404, 422)
)
async def read_location(
    _: CurrentUser, session: SessionDep, location_id: uuid.UUID
) -> LocationDetail:
    """A location with its charge points."""
    location = await service.get_location(session=session, location_id=location_id)
    return await _detail(session, location)


@router.patch(
    "/{location_id}",
    response_model=LocationDetail,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_location(
    _: OperatorUser, session: SessionDep, location_id: uuid.UUID, body: LocationUpdate
) -> LocationDetail:
    """Change a location (operators and admins)."""
    location = await service.update_location(session=session, location_id=location_id, data=body)
    return await _detail(session, location)


@router.delete(
    "/{location_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def delete_location(_: OperatorUser, session: SessionDep, location_id: uuid.UUID) -> Response:
    """Delete a location without charge points (operators and admins)."""
    await service.delete_location(session=session, location_id=location_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
