"""Locations: the sites charge points stand at."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import enums
from shared.db.base import Base, TimestampMixin, enum_check

if TYPE_CHECKING:
    from shared.db.models.chargepoint import ChargePoint


class Location(TimestampMixin, Base):
    """A site (ER diagram: Location), with its optional grid limit for load balancing."""

    __tablename__ = "location"
    __table_args__ = (
        enum_check("type", enums.LOCATION_TYPES),
        enum_check("grid_limit_unit", enums.GRID_LIMIT_UNITS),
        enum_check("balancing_strategy", enums.BALANCING_STRATEGIES),
    )

    uuid: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(20), default="other", server_default="other")
    street_address: Mapped[str] = mapped_column(String(255))
    postal_code: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(20))
    grid_limit: Mapped[Decimal | None]
    grid_limit_unit: Mapped[str | None] = mapped_column(String(1))
    balancing_strategy: Mapped[str | None] = mapped_column(String(20))

    chargepoints: Mapped[list[ChargePoint]] = relationship(
        back_populates="location", lazy="raise", passive_deletes=True
    )
