"""Charging profiles (ER diagram: ChargingProfile), read side."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.common import (
    ApiModel,
    NonNegInt32,
    PositiveInt32,
    ReadModel,
    SafeStr,
    UtcDateTime,
)

Purpose = Literal[
    "ChargePointMaxProfile",
    "TxDefaultProfile",
    "TxProfile",
    "ChargingStationMaxProfile",
    "ChargingStationExternalConstraints",
]


class InstallationRead(ReadModel):
    """Where a profile is installed and in which state."""

    chargepoint_id: str
    connectorid: int
    status: str
    updated_at: UtcDateTime


class ChargingProfileRead(ReadModel):
    """A charging profile with its schedule periods as sent on the wire."""

    chargingprofile_id: int
    transaction_id: int | None = None
    stack_level: int
    chargingprofile_purpose: str
    chargingprofile_kind: str
    recurrency_kind: str | None = None
    valid_from: UtcDateTime | None = None
    valid_to: UtcDateTime | None = None
    duration: int | None = None
    start_schedule: UtcDateTime | None = None
    charging_rate_unit: str
    chargingschedule_period: list[dict[str, Any]]
    min_charging_rate: float | None = None
    chargepoint_id: str | None = None
    connector_id: int | None = None
    description: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ChargingProfileDetail(ChargingProfileRead):
    """A charging profile with its installations."""

    installations: list[InstallationRead] = Field(default_factory=list)


# ------------------------------------------------------------------------------ write side

PurposeV16 = Literal["ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"]
Kind = Literal["Absolute", "Recurring", "Relative"]
Recurrency = Literal["Daily", "Weekly"]
RateUnit = Literal["A", "W"]
Limit = Annotated[float, Field(gt=0, le=1e9, description="A or W; a multiple of 0.1")]


class PeriodIn(ApiModel):
    """One ChargingSchedulePeriod; `startPeriod` / `numberPhases` are accepted too."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start_period: NonNegInt32 = Field(alias="startPeriod")
    limit: Limit
    number_phases: Annotated[int, Field(ge=1, le=3)] | None = Field(
        default=None, alias="numberPhases"
    )


class ChargingProfileCreate(ApiModel):
    """A profile for one charge point connector (0 = the whole charge point)."""

    chargepoint_id: SafeStr = Field(min_length=1, max_length=255)
    connector_id: NonNegInt32 = 0
    transaction_id: PositiveInt32 | None = Field(
        default=None, description="TxProfile: the active transaction (default: the connector's)"
    )
    stack_level: NonNegInt32
    chargingprofile_purpose: PurposeV16
    chargingprofile_kind: Kind = "Absolute"
    recurrency_kind: Recurrency | None = None
    valid_from: UtcDateTime | None = None
    valid_to: UtcDateTime | None = None
    duration: PositiveInt32 | None = Field(default=None, description="seconds")
    start_schedule: UtcDateTime | None = None
    charging_rate_unit: RateUnit
    chargingschedule_period: list[PeriodIn] = Field(min_length=1, max_length=1000)
    min_charging_rate: Limit | None = None
    description: SafeStr | None = Field(default=None, max_length=255)


class ChargingProfileUpdate(ApiModel):
    """Changes to a profile (its target stays); the result is validated as a whole."""

    transaction_id: PositiveInt32 | None = None
    stack_level: NonNegInt32 | None = None
    chargingprofile_purpose: PurposeV16 | None = None
    chargingprofile_kind: Kind | None = None
    recurrency_kind: Recurrency | None = None
    valid_from: UtcDateTime | None = None
    valid_to: UtcDateTime | None = None
    duration: PositiveInt32 | None = None
    start_schedule: UtcDateTime | None = None
    charging_rate_unit: RateUnit | None = None
    chargingschedule_period: list[PeriodIn] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    min_charging_rate: Limit | None = None
    description: SafeStr | None = Field(default=None, max_length=255)


class InstallResult(BaseModel):
    """What the charging service reported after sending the profile (or why it did not)."""

    status: str = Field(
        description="Installed, Rejected, Pending (offline, no answer, service unavailable), "
        "Cleared, NotInstalled"
    )
    outcome: str | None = None


class ChargingProfileWritten(ChargingProfileDetail):
    """The stored profile and the outcome of installing it."""

    install: InstallResult


class CompositePeriodRead(BaseModel):
    """From `start_period` seconds after `schedule_start`; `limit` null: no profile limits."""

    start_period: int
    limit: float | None
    number_phases: int | None = None


class CompositeScheduleRead(BaseModel):
    """The limit over time of one connector, computed from the stored profiles."""

    chargepoint_id: str
    connector_id: int
    schedule_start: UtcDateTime
    duration: int
    charging_rate_unit: str
    transaction_id: int | None = None
    periods: list[CompositePeriodRead]


class BalancingDecisionRead(ReadModel):
    """One recomputation of a location's limits by the load balancer."""

    id: int
    location_uuid: uuid.UUID
    computed_at: UtcDateTime
    trigger: str
    chargepoint_id: str | None = None
    grid_limit: float
    unit: str
    strategy: str
    allocations: list[dict[str, Any]]
    sent: list[dict[str, Any]]
