"""Locations: create, list, read, change, delete."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.errors import Conflict, NotFound, Unprocessable
from services.api.locations.schemas import LocationCreate, LocationUpdate
from services.api.pagination import PageParams, paginate
from shared.db.models import ChargePoint, Location

SORT_FIELDS = ("name", "city", "country", "type", "created_at")
_COLUMNS = {
    "name": Location.name,
    "city": Location.city,
    "country": Location.country,
    "type": Location.type,
    "created_at": Location.created_at,
}


async def list_locations(
    *,
    session: AsyncSession,
    params: PageParams,
    name: str | None = None,
    city: str | None = None,
    country: str | None = None,
    type: str | None = None,
) -> tuple[list[Location], int]:
    """Locations matching the filters (`name` is a case-insensitive substring)."""
    stmt = select(Location)
    if name:
        stmt = stmt.where(Location.name.icontains(name, autoescape=True))
    if city is not None:
        stmt = stmt.where(Location.city == city)
    if country is not None:
        stmt = stmt.where(Location.country == country)
    if type is not None:
        stmt = stmt.where(Location.type == type)
    return await paginate(session, stmt, params=params, columns=_COLUMNS, tiebreak=Location.uuid)


async def get_location(*, session: AsyncSession, location_id: uuid.UUID) -> Location:
    """The location, or NotFound."""
    location = await session.get(Location, location_id)
    if location is None:
        raise NotFound("location", location_id)
    return location


async def location_chargepoints(
    *, session: AsyncSession, location_id: uuid.UUID
) -> list[ChargePoint]:
    """The charge points at a location that are not decommissioned."""
    stmt = (
        select(ChargePoint)
        .where(ChargePoint.location_uuid == location_id, ChargePoint.decommissioned_at.is_(None))
        .order_by(ChargePoint.chargepoint_id)
    )
    return list((await session.scalars(stmt)).all())


def _to_decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def create_location(*, session: AsyncSession, data: LocationCreate) -> Location:
    """Create a location."""
    if data.grid_limit is not None and data.grid_limit_unit is None:
        raise Unprocessable("body.grid_limit_unit", "grid_limit_unit is required with grid_limit")
    values = data.model_dump()
    values["grid_limit"] = _to_decimal(data.grid_limit)
    location = Location(**values)
    session.add(location)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("the location conflicts with stored data") from None
    await session.refresh(location)
    return location


async def update_location(
    *, session: AsyncSession, location_id: uuid.UUID, data: LocationUpdate
) -> Location:
    """Change a location's fields."""
    location = await get_location(session=session, location_id=location_id)
    changes = data.model_dump(exclude_unset=True)
    if "grid_limit" in changes:
        changes["grid_limit"] = _to_decimal(data.grid_limit)
    for key, value in changes.items():
        setattr(location, key, value)
    if location.grid_limit is not None and location.grid_limit_unit is None:
        raise Unprocessable("body.grid_limit_unit", "grid_limit_unit is required with grid_limit")
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("the location conflicts with stored data") from None
    await session.refresh(location)
    return location


async def delete_location(*, session: AsyncSession, location_id: uuid.UUID) -> None:
    """Delete a location that has no (non-decommissioned) charge points."""
    location = await get_location(session=session, location_id=location_id)
    in_use = await session.scalar(
        select(func.count()).where(
            ChargePoint.location_uuid == location_id, ChargePoint.decommissioned_at.is_(None)
        )
    )
    if in_use:
        raise Conflict(f"location has {in_use} charge point(s); move or decommission them first")
    await session.delete(location)
    await session.commit()
