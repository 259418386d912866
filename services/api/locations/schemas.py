"""Locations (ER diagram: Location) with their grid limit for load balancing."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from services.api.common import ApiModel, ReadModel, SafeStr, UtcDateTime

LocationType = Literal[
    "on_street", "parking_garage", "underground_garage", "parking_lot", "private", "other"
]
GridLimitUnit = Literal["A", "W"]
BalancingStrategy = Literal["equal", "by_connector_max"]
# Column lengths of the location table.
Name = Annotated[SafeStr, Field(min_length=1, max_length=255)]
StreetAddress = Annotated[SafeStr, Field(min_length=1, max_length=255)]
Short = Annotated[SafeStr, Field(min_length=1, max_length=20)]
GridLimit = Annotated[float, Field(ge=0, le=1e9, description="A or W, per grid_limit_unit")]


class LocationCreate(ApiModel):
    """A new location; `grid_limit` with `grid_limit_unit` caps its charge points together."""

    name: Name
    type: LocationType = "other"
    street_address: StreetAddress
    postal_code: Short
    city: Short
    country: Short
    grid_limit: GridLimit | None = None
    grid_limit_unit: GridLimitUnit | None = None
    balancing_strategy: BalancingStrategy | None = None


_REQUIRED = ("name", "type", "street_address", "postal_code", "city", "country")


class LocationUpdate(ApiModel):
    """Changes to a location; omitted fields stay, nullable ones may be set to null."""

    name: Name | None = None
    type: LocationType | None = None
    street_address: StreetAddress | None = None
    postal_code: Short | None = None
    city: Short | None = None
    country: Short | None = None
    grid_limit: GridLimit | None = None
    grid_limit_unit: GridLimitUnit | None = None
    balancing_strategy: BalancingStrategy | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _REQUIRED:
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be null")
        return data


class ChargePointSummary(ReadModel):
    """A charge point as listed under its location."""

    chargepoint_id: str
    connected: bool
    chargepoint_status: str | None = None
    registration_status: str


class LocationRead(ReadModel):
    """A location."""

    uuid: UUID
    name: str
    type: str
    street_address: str
    postal_code: str
    city: str
    country: str
    grid_limit: float | None = None
    grid_limit_unit: str | None = None
    balancing_strategy: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class LocationDetail(LocationRead):
    """A location with the charge points standing there (decommissioned ones left out)."""

    chargepoints: list[ChargePointSummary] = Field(default_factory=list)
