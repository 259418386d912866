"""Charging profiles (ER diagram: ChargingProfile), read side."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from services.api.common import ReadModel, UtcDateTime

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
