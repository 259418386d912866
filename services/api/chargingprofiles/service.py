"""Charging profiles (read; definitions are written by the charging work)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.api.errors import NotFound
from services.api.pagination import PageParams, paginate
from shared.db.models import ChargingProfile

SORT_FIELDS = ("chargingprofile_id", "stack_level", "created_at")
_COLUMNS = {
    "chargingprofile_id": ChargingProfile.chargingprofile_id,
    "stack_level": ChargingProfile.stack_level,
    "created_at": ChargingProfile.created_at,
}


async def list_profiles(
    *,
    session: AsyncSession,
    params: PageParams,
    chargepoint_id: str | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    transaction_id: int | None = None,
) -> tuple[list[ChargingProfile], int]:
    """Charging profiles matching the filters."""
    stmt = select(ChargingProfile)
    if chargepoint_id is not None:
        stmt = stmt.where(ChargingProfile.chargepoint_id == chargepoint_id)
    if connector_id is not None:
        stmt = stmt.where(ChargingProfile.connector_id == connector_id)
    if purpose is not None:
        stmt = stmt.where(ChargingProfile.chargingprofile_purpose == purpose)
    if transaction_id is not None:
        stmt = stmt.where(ChargingProfile.transaction_id == transaction_id)
    return await paginate(
        session, stmt, params=params, columns=_COLUMNS, tiebreak=ChargingProfile.chargingprofile_id
    )


async def get_profile(*, session: AsyncSession, chargingprofile_id: int) -> ChargingProfile:
    """The profile with its installations, or NotFound."""
    stmt = (
        select(ChargingProfile)
        .where(ChargingProfile.chargingprofile_id == chargingprofile_id)
        .options(selectinload(ChargingProfile.installations))
    )
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound("charging profile", chargingprofile_id)
    return row
