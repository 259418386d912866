"""Reservations (ER diagram: Reservation)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from services.api.common import ReadModel, UtcDateTime

ReservationStatus = Literal["Active", "Used", "Cancelled", "Expired"]


class ReservationRead(ReadModel):
    """A reservation of a connector for an id tag."""

    uuid: UUID
    reservation_id: int
    connector_uuid: UUID | None = None
    chargepoint_id: str | None = None
    connectorid: int | None = Field(
        default=None, description="0 = any connector of the charge point (OCPP 1.6 ReserveNow)"
    )
    expiry_date: UtcDateTime
    id_tag: str
    parent_id_tag: str | None = None
    status: str
    transaction_id: int | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
