"""Charging profile rows <-> schedule values <-> OCPP 1.6 payloads (pure conversions)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.charging.schedule import CHARGE_POINT_MAX, STATION_MAX, Period, Profile
from shared.db.models import ChargingProfile
from shared.ocpp import format_datetime
from shared.ocpp.versions import OCPP201


def _number(value: Any) -> float:
    return float(value)


def periods_of(raw: list[dict[str, Any]]) -> tuple[Period, ...]:
    """ChargingSchedulePeriod objects (wire names) as `Period`s."""
    return tuple(
        Period(
            start_period=int(p["startPeriod"]),
            limit=_number(p["limit"]),
            number_phases=int(p["numberPhases"]) if p.get("numberPhases") is not None else None,
        )
        for p in raw
    )


def to_schedule_profile(row: ChargingProfile) -> Profile:
    """A stored profile as the composite-schedule code sees it."""
    return Profile(
        profile_id=row.chargingprofile_id,
        connector_id=row.connector_id or 0,
        stack_level=row.stack_level,
        purpose=(
            CHARGE_POINT_MAX
            if row.chargingprofile_purpose == STATION_MAX
            else row.chargingprofile_purpose
        ),
        kind=row.chargingprofile_kind,
        unit=row.charging_rate_unit,
        periods=periods_of(list(row.chargingschedule_period)),
        recurrency_kind=row.recurrency_kind,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        duration=row.duration,
        start_schedule=row.start_schedule,
        min_charging_rate=(
            float(row.min_charging_rate) if row.min_charging_rate is not None else None
        ),
        transaction_id=row.transaction_id,
    )


def period_payload(period: Period) -> dict[str, Any]:
    """One ChargingSchedulePeriod in wire form."""
    out: dict[str, Any] = {"startPeriod": period.start_period, "limit": period.limit}
    if period.number_phases is not None:
        out["numberPhases"] = period.number_phases
    return out


def cs_charging_profile(row: ChargingProfile) -> dict[str, Any]:
    """The `csChargingProfiles` object of a SetChargingProfile.req for `row` (§7.12)."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": row.charging_rate_unit,
        "chargingSchedulePeriod": [
            period_payload(p) for p in periods_of(list(row.chargingschedule_period))
        ],
    }
    if row.duration is not None:
        schedule["duration"] = row.duration
    if row.start_schedule is not None:
        schedule["startSchedule"] = format_datetime(row.start_schedule)
    if row.min_charging_rate is not None:
        schedule["minChargingRate"] = float(Decimal(row.min_charging_rate))
    profile: dict[str, Any] = {
        "chargingProfileId": row.chargingprofile_id,
        "stackLevel": row.stack_level,
        "chargingProfilePurpose": row.chargingprofile_purpose,
        "chargingProfileKind": row.chargingprofile_kind,
        "chargingSchedule": schedule,
    }
    if row.transaction_id is not None:
        profile["transactionId"] = row.transaction_id
    if row.recurrency_kind is not None:
        profile["recurrencyKind"] = row.recurrency_kind
    if row.valid_from is not None:
        profile["validFrom"] = format_datetime(row.valid_from)
    if row.valid_to is not None:
        profile["validTo"] = format_datetime(row.valid_to)
    return profile


# OCPP 2.0.1 ChargingProfilePurposeEnumType spells the 1.6 ChargePointMaxProfile
# "ChargingStationMaxProfile"; the other purposes keep their names.
V201_PURPOSES = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}


def v201_charging_profile(wire: dict[str, Any], *, transaction_id: str | None) -> dict[str, Any]:
    """The OCPP 2.0.1 `chargingProfile` (ChargingProfileType, K01) of a 1.6
    `csChargingProfiles` object: `id`, one `chargingSchedule` (a list in 2.0.1, the schedule's
    `id` = the profile's), the purpose renamed; `transactionId` is the station's string id
    (`transaction.remote_transaction_id`), never our integer one."""
    schedule = {"id": wire["chargingProfileId"], **wire["chargingSchedule"]}
    profile: dict[str, Any] = {
        "id": wire["chargingProfileId"],
        "stackLevel": wire["stackLevel"],
        "chargingProfilePurpose": V201_PURPOSES.get(
            wire["chargingProfilePurpose"], wire["chargingProfilePurpose"]
        ),
        "chargingProfileKind": wire["chargingProfileKind"],
        "chargingSchedule": [schedule],
    }
    for key in ("recurrencyKind", "validFrom", "validTo"):
        if key in wire:
            profile[key] = wire[key]
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return profile


def set_charging_profile_payload(
    wire: dict[str, Any],
    *,
    connector_id: int,
    ocpp_version: str | None,
    remote_transaction_id: str | None = None,
) -> dict[str, Any]:
    """SetChargingProfile.req for a station of `ocpp_version` from the 1.6 wire profile:
    1.6 `{connectorId, csChargingProfiles}`, 2.0.1 `{evseId, chargingProfile}` (the data
    model's connector number of a 2.0.1 station is its evseId; 0 = the station)."""
    if ocpp_version == OCPP201:
        return {
            "evseId": connector_id,
            "chargingProfile": v201_charging_profile(wire, transaction_id=remote_transaction_id),
        }
    return {"connectorId": connector_id, "csChargingProfiles": wire}
