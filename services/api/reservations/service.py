"""Reservations (read); drivers see those of their own id tags."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.api.deps import Principal
from services.api.errors import NotFound
from services.api.pagination import PageParams, paginate
from services.api.transactions.service import tags_of
from shared.db.models import Reservation

SORT_FIELDS = ("expiry_date", "created_at", "reservation_id")
_COLUMNS = {
    "expiry_date": Reservation.expiry_date,
    "created_at": Reservation.created_at,
    "reservation_id": Reservation.reservation_id,
}


def visible(stmt: Select[Reservation], principal: Principal) -> Select[Reservation]:
    """Restrict to the reservations the caller may see."""
    if principal.is_driver:
        return stmt.where(Reservation.id_tag.in_(tags_of(principal.user_id)))
    return stmt


def _base() -> Select[Reservation]:
    return select(Reservation).options(selectinload(Reservation.connector))


async def list_reservations(
    *,
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    chargepoint_id: str | None = None,
    id_tag: str | None = None,
    user_id: uuid.UUID | None = None,
    status: str | None = None,
    expires_after: datetime | None = None,
    expires_before: datetime | None = None,
) -> tuple[list[Reservation], int]:
    """Reservations matching the filters."""
    stmt = visible(_base(), principal)
    if chargepoint_id is not None:
        stmt = stmt.where(Reservation.chargepoint_id == chargepoint_id)
    if id_tag is not None:
        stmt = stmt.where(Reservation.id_tag == id_tag)
    if user_id is not None:
        stmt = stmt.where(Reservation.id_tag.in_(tags_of(user_id)))
    if status is not None:
        stmt = stmt.where(Reservation.status == status)
    if expires_after is not None:
        stmt = stmt.where(Reservation.expiry_date >= expires_after)
    if expires_before is not None:
        stmt = stmt.where(Reservation.expiry_date < expires_before)
    return await paginate(session, stmt, params=params, columns=_COLUMNS, tiebreak=Reservation.uuid)


async def get_reservation(
    *, session: AsyncSession, principal: Principal, reservation_uuid: uuid.UUID
) -> Reservation:
    """The reservation, or NotFound (also for another driver's)."""
    stmt = visible(_base().where(Reservation.uuid == reservation_uuid), principal)
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound("reservation", reservation_uuid)
    return row
