"""Effects of OCPP 2.0.1 profile commands sent through the commands API (rows sent as 2.0.1).

Applied by the charging service's effect consumer with the 1.6 ones (command_effects.py),
in `seq` order, from the request and answer as typed models:

- SetChargingProfile (K01) Accepted -> the profile as a `charging_profile` row (id = the
  sent `chargingProfile.id`, target = this station and evseId: the data model's connector
  number of an EVSE is its evseId, 0 = the station) and an `Installed` installation, by
  the same rules as 1.6 (same id: replaced; same purpose and stack level on the EVSE:
  `Replaced`). The row holds one schedule: the first of the profile's (2.0.1 allows up
  to three; the others stay in the command log, logged). A `transactionId` is the
  station's: linked to our transaction with that `remote_transaction_id` when there is one.
- RequestStartTransaction (F01/F02) Accepted with a `chargingProfile` (a TxProfile, K05)
  -> the profile as for SetChargingProfile, on the requested EVSE, linked to the
  transaction the request started when it is known (by remoteStartId, or the answer's
  transactionId); before that it is a TxProfile without transaction on the EVSE, which the
  composite schedule and the balancer apply to the EVSE's session.
- ClearChargingProfile (K10) Accepted or Unknown -> the matching `Installed` / `Pending`
  installations become `Cleared`: by chargingProfileId, else by the criteria's evseId,
  purpose and stack level (each when given).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from services.charging.command_effects import clear_installations, record_sent_profile
from shared.command_outbox import Effect, typed_effect
from shared.db.models import Transaction
from shared.dispatch import HandlerContext
from shared.ocpp import format_datetime
from shared.ocpp.v201.clear_charging_profile_request import ClearChargingProfileRequest
from shared.ocpp.v201.clear_charging_profile_response import ClearChargingProfileResponse
from shared.ocpp.v201.common import ChargingProfileType
from shared.ocpp.v201.request_start_transaction_request import RequestStartTransactionRequest
from shared.ocpp.v201.request_start_transaction_response import (
    RequestStartTransactionResponse,
)
from shared.ocpp.v201.set_charging_profile_request import SetChargingProfileRequest
from shared.ocpp.v201.set_charging_profile_response import SetChargingProfileResponse

log = logging.getLogger(__name__)


def wire_profile(profile: ChargingProfileType) -> dict[str, Any]:
    """A 2.0.1 profile in the stored (1.6 csChargingProfiles) wire form, its first schedule."""
    schedule = profile.charging_schedule[0]
    periods: list[dict[str, Any]] = []
    for period in schedule.charging_schedule_period:
        item: dict[str, Any] = {"startPeriod": period.start_period, "limit": float(period.limit)}
        if period.number_phases is not None:
            item["numberPhases"] = period.number_phases
        periods.append(item)
    wire_schedule: dict[str, Any] = {
        "chargingRateUnit": schedule.charging_rate_unit.value,
        "chargingSchedulePeriod": periods,
    }
    if schedule.duration is not None:
        wire_schedule["duration"] = schedule.duration
    if schedule.start_schedule is not None:
        wire_schedule["startSchedule"] = format_datetime(schedule.start_schedule)
    if schedule.min_charging_rate is not None:
        wire_schedule["minChargingRate"] = float(schedule.min_charging_rate)
    wire: dict[str, Any] = {
        "chargingProfileId": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.charging_profile_purpose.value,
        "chargingProfileKind": profile.charging_profile_kind.value,
        "chargingSchedule": wire_schedule,
    }
    if profile.recurrency_kind is not None:
        wire["recurrencyKind"] = profile.recurrency_kind.value
    if profile.valid_from is not None:
        wire["validFrom"] = format_datetime(profile.valid_from)
    if profile.valid_to is not None:
        wire["validTo"] = format_datetime(profile.valid_to)
    return wire


async def _transaction(ctx: HandlerContext, chargepoint_id: str, remote: str | None) -> int | None:
    if remote is None:
        return None
    found: int | None = await ctx.session.scalar(
        select(Transaction.transaction_id).where(
            Transaction.chargepoint_id == chargepoint_id,
            Transaction.remote_transaction_id == remote,
        )
    )
    return found


async def set_charging_profile(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: SetChargingProfileRequest,
    response: SetChargingProfileResponse,
) -> None:
    """Accepted -> the profile and its installation (see the module docstring)."""
    if response.status.value != "Accepted":
        return
    profile = request.charging_profile
    if len(profile.charging_schedule) > 1:
        log.info(
            "SetChargingProfile %d has %d schedules: the first is stored",
            profile.id,
            len(profile.charging_schedule),
        )
    await record_sent_profile(
        ctx,
        chargepoint_id,
        connector_id=request.evse_id,
        profile_id=profile.id,
        sent=wire_profile(profile),
        transaction_id=await _transaction(ctx, chargepoint_id, profile.transaction_id),
    )


async def request_start_transaction(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: RequestStartTransactionRequest,
    response: RequestStartTransactionResponse,
) -> None:
    """Accepted with a chargingProfile -> the TxProfile and its installation."""
    profile = request.charging_profile
    if response.status.value != "Accepted" or profile is None:
        return
    transaction_id = await _transaction(ctx, chargepoint_id, response.transaction_id)
    if transaction_id is None:
        transaction_id = await ctx.session.scalar(
            select(Transaction.transaction_id).where(
                Transaction.chargepoint_id == chargepoint_id,
                Transaction.remote_start_id == request.remote_start_id,
            )
        )
    await record_sent_profile(
        ctx,
        chargepoint_id,
        connector_id=request.evse_id or 0,
        profile_id=profile.id,
        sent=wire_profile(profile),
        transaction_id=transaction_id,
    )


async def clear_charging_profile(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: ClearChargingProfileRequest,
    response: ClearChargingProfileResponse,
) -> None:
    """Accepted / Unknown -> the matching installations on this station are Cleared."""
    if response.status.value not in ("Accepted", "Unknown"):
        return
    criteria = request.charging_profile_criteria
    await clear_installations(
        ctx,
        chargepoint_id,
        profile_id=request.charging_profile_id,
        connector_id=criteria.evse_id if criteria is not None else None,
        purpose=(
            criteria.charging_profile_purpose.value
            if criteria is not None and criteria.charging_profile_purpose is not None
            else None
        ),
        stack_level=criteria.stack_level if criteria is not None else None,
    )


EFFECTS: dict[str, Effect] = {
    "SetChargingProfile": typed_effect(
        SetChargingProfileRequest, SetChargingProfileResponse, set_charging_profile
    ),
    "RequestStartTransaction": typed_effect(
        RequestStartTransactionRequest, RequestStartTransactionResponse, request_start_transaction
    ),
    "ClearChargingProfile": typed_effect(
        ClearChargingProfileRequest, ClearChargingProfileResponse, clear_charging_profile
    ),
}
"""2.0.1 action -> effect of its CALLRESULT."""
