"""Reservations (ER diagram: Reservation)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from services.api.common import ReadModel, UtcDateTime

ReservationStatus = Literal["Active", "Used", "Cancelled", "Expired"]


class ReservationRead(ReadModel):
    """A reservation of a connector for an id tag."""

    uuid: UUID
    reservation_id: int
    connector_uuid: UUID
    chargepoint_id: str
    connectorid: int
    expiry_date: UtcDateTime
    id_tag: str
    parent_id_tag: str | None = None
    status: str
    transaction_id: int | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
