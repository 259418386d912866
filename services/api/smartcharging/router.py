"""`GET /chargepoints/{id}/smart-charging`: what a 2.0.1 station reported for smart charging,
as the charging service stored it (docs/charging.md, "OCPP 2.0.1 station messages"):
external limits (NotifyChargingLimit), the profiles it holds (ReportChargingProfiles) and
its EVs' needs and schedules (NotifyEVChargingNeeds / NotifyEVChargingSchedule)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from services.api.commands import service as commands
from services.api.commands.router import ChargePointId
from services.api.common import ReadModel, UtcDateTime
from services.api.deps import OperatorUser, SessionDep
from services.api.errors import error_responses
from shared.db.models import ChargingLimit, EvChargingNeed, ReportedChargingProfile

router = APIRouter(prefix="/chargepoints", tags=["charging-profiles"])


class ChargingLimitRead(ReadModel):
    """An external limit (ChargingStationExternalConstraints) of one source."""

    evse_id: int
    source: str
    grid_critical: bool | None = None
    schedule: list[dict[str, Any]] | None = None
    updated_at: UtcDateTime


class ReportedProfileRead(ReadModel):
    """A profile the station reported holding (ChargingProfileType, camelCase)."""

    evse_id: int
    chargingprofile_id: int
    request_id: int
    charging_limit_source: str
    profile: dict[str, Any]
    reported_at: UtcDateTime


class EvChargingNeedRead(ReadModel):
    """What the EV of an EVSE asked for, and the schedule it chose."""

    evse_id: int
    transaction_id: int | None = None
    requested_energy_transfer: str
    departure_time: UtcDateTime | None = None
    energy_amount: Decimal | None = None
    ev_min_current: Decimal | None = None
    ev_max_current: Decimal | None = None
    ev_max_power: Decimal | None = None
    ev_max_voltage: Decimal | None = None
    needs: dict[str, Any]
    received_at: UtcDateTime
    ev_schedule: dict[str, Any] | None = None
    ev_schedule_timebase: UtcDateTime | None = None


class SmartChargingRead(BaseModel):
    """The station's external limits, reported profiles and EV needs."""

    charging_limits: list[ChargingLimitRead]
    reported_profiles: list[ReportedProfileRead]
    ev_charging_needs: list[EvChargingNeedRead]


@router.get(
    "/{chargepoint_id}/smart-charging",
    response_model=SmartChargingRead,
    responses=error_responses(401, 403, 404, 422),
)
async def read_smart_charging(
    chargepoint_id: ChargePointId, _: OperatorUser, session: SessionDep
) -> SmartChargingRead:
    """What the station reported (empty lists: nothing, or a 1.6 charge point)."""
    await commands.chargepoint_version(session=session, chargepoint_id=chargepoint_id)
    limits = await session.scalars(
        select(ChargingLimit)
        .where(ChargingLimit.chargepoint_id == chargepoint_id)
        .order_by(ChargingLimit.evse_id, ChargingLimit.source)
    )
    r = ReportedChargingProfile
    reported = await session.scalars(
        select(r)
        .where(r.chargepoint_id == chargepoint_id)
        .order_by(r.evse_id, r.chargingprofile_id)
    )
    needs = await session.scalars(
        select(EvChargingNeed)
        .where(EvChargingNeed.chargepoint_id == chargepoint_id)
        .order_by(EvChargingNeed.evse_id)
    )
    return SmartChargingRead(
        charging_limits=[ChargingLimitRead.model_validate(x) for x in limits],
        reported_profiles=[ReportedProfileRead.model_validate(x) for x in reported],
        ev_charging_needs=[EvChargingNeedRead.model_validate(x) for x in needs],
    )
