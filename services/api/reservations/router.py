"""`/reservations` (read; ReserveNow / CancelReservation are commands)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.api.common import SafeStr, UtcDateTime
from services.api.deps import CurrentUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import Page, PageParams, sort_param
from services.api.reservations import service
from services.api.reservations.schemas import ReservationRead, ReservationStatus
from shared.db.models import Reservation

router = APIRouter(prefix="/reservations", tags=["reservations"])

ReservationPage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "-created_at"))]


def to_read(row: Reservation) -> ReservationRead:
    """The API view of a reservation, with its charge point and connector number."""
    data = {name: getattr(row, name, None) for name in ReservationRead.model_fields}
    if row.connector is not None:
        data["chargepoint_id"] = data["chargepoint_id"] or row.connector.chargepoint_id
        if data["connectorid"] is None:
            data["connectorid"] = row.connector.connectorid
    return ReservationRead.model_validate(data)


@router.get("", response_model=Page[ReservationRead], responses=error_responses(401, 422))
async def list_reservations(
    principal: CurrentUser,
    session: SessionDep,
    page: ReservationPage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    id_tag: Annotated[SafeStr | None, Query(max_length=255)] = None,
    user_id: uuid.UUID | None = None,
    status: ReservationStatus | None = None,
    expires_after: Annotated[UtcDateTime | None, Query(description="inclusive")] = None,
    expires_before: Annotated[UtcDateTime | None, Query(description="exclusive")] = None,
) -> Page[ReservationRead]:
    """Reservations (a driver sees those of their own id tags)."""
    rows, total = await service.list_reservations(
        session=session,
        principal=principal,
        params=page,
        chargepoint_id=chargepoint_id,
        id_tag=id_tag,
        user_id=user_id,
        status=status,
        expires_after=expires_after,
        expires_before=expires_before,
    )
    return Page[ReservationRead](
        items=[to_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{reservation_uuid}", response_model=ReservationRead, responses=error_responses(401, 404, 422)
)
async def read_reservation(
    principal: CurrentUser, session: SessionDep, reservation_uuid: uuid.UUID
) -> ReservationRead:
    """One reservation (404 for a driver asking for someone else's)."""
    row = await service.get_reservation(
        session=session, principal=principal, reservation_uuid=reservation_uuid
    )
    return to_read(row)
