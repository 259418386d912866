"""The OCPP 1.6 rules a charging profile must meet before it is stored or sent (§3.13, §7.13).

Pure: the caller gathers the facts (the active transaction on the target connector, the other
profiles on that connector) and gets back every problem, each naming the API field it is
about, so the API answers 422 with all of them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Final

from shared.charging.schedule import CHARGE_POINT_MAX, TX_DEFAULT, TX_PROFILE, Profile

PURPOSES_V16: Final = (CHARGE_POINT_MAX, TX_DEFAULT, TX_PROFILE)
KINDS_V16: Final = ("Absolute", "Recurring", "Relative")
RECURRENCY_KINDS_V16: Final = ("Daily", "Weekly")
UNITS: Final = ("A", "W")
INT32_MAX: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: the API field (snake_case, dotted) and why."""

    field: str
    message: str


def _tenths(value: float) -> bool:
    """OCPP 1.6 limits are `multipleOf: 0.1`."""
    return Decimal(str(value)) % Decimal("0.1") == 0


def validate_profile(
    profile: Profile,
    *,
    active_transaction_id: int | None,
    siblings: Sequence[Profile] = (),
    reserved_stack_level: int | None = None,
) -> list[Problem]:
    """Every problem with `profile` (empty list: valid).

    `active_transaction_id`: the transaction running on the target connector, if any.
    `siblings`: the other profiles in force on the same charge point and connector (not
    `profile` itself; TxProfiles of finished transactions left out).
    `reserved_stack_level`: a TxProfile stack level the load balancer uses on this charge
    point (its location has a grid limit); operators may not use it or anything above.
    """
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(field, message))

    if profile.purpose not in PURPOSES_V16:
        bad("chargingprofile_purpose", f"must be one of {', '.join(PURPOSES_V16)} (OCPP 1.6)")
    if profile.kind not in KINDS_V16:
        bad("chargingprofile_kind", f"must be one of {', '.join(KINDS_V16)}")
    if profile.unit not in UNITS:
        bad("charging_rate_unit", "must be A or W")
    if not 0 <= profile.stack_level <= INT32_MAX:
        bad("stack_level", "must be >= 0")
    if profile.connector_id < 0:
        bad("connector_id", "must be >= 0")

    # §7.13 ChargingProfilePurposeType: "ChargePointMaxProfile ... only be set at Charge
    # Point ConnectorId 0".
    if profile.purpose == CHARGE_POINT_MAX and profile.connector_id != 0:
        bad("connector_id", "a ChargePointMaxProfile can only be set on connector 0")
    # §3.13.2: a TxProfile applies to a running transaction on a specific connector.
    if profile.purpose == TX_PROFILE:
        if profile.connector_id == 0:
            bad("connector_id", "a TxProfile must target a connector (> 0)")
        elif active_transaction_id is None:
            bad("transaction_id", "a TxProfile needs an active transaction on the connector")
        elif profile.transaction_id is not None and profile.transaction_id != active_transaction_id:
            bad(
                "transaction_id",
                f"transaction {profile.transaction_id} is not the active transaction "
                f"({active_transaction_id}) on the connector",
            )
        if reserved_stack_level is not None and profile.stack_level >= reserved_stack_level:
            bad(
                "stack_level",
                f"stack levels >= {reserved_stack_level} of TxProfiles are reserved for site "
                "load balancing at this location",
            )
    elif profile.transaction_id is not None:
        bad("transaction_id", "only a TxProfile may name a transaction")

    # §7.13 ChargingProfileKindType / RecurrencyKindType.
    if profile.kind == "Recurring":
        if profile.recurrency_kind not in RECURRENCY_KINDS_V16:
            bad("recurrency_kind", "a Recurring profile needs recurrency_kind Daily or Weekly")
        if profile.start_schedule is None:
            bad("start_schedule", "a Recurring profile needs start_schedule")
    elif profile.recurrency_kind is not None:
        bad("recurrency_kind", "only a Recurring profile has a recurrency_kind")
    if profile.kind == "Relative" and profile.start_schedule is not None:
        bad("start_schedule", "a Relative profile starts with the transaction: no start_schedule")

    if (
        profile.valid_from is not None
        and profile.valid_to is not None
        and profile.valid_from >= profile.valid_to
    ):
        bad("valid_to", "must be after valid_from")
    if profile.duration is not None and not 0 < profile.duration <= INT32_MAX:
        bad("duration", "must be > 0 seconds")

    # §7.14 ChargingSchedulePeriod: "startPeriod ... The first period SHALL start at 0";
    # periods follow each other in time.
    periods = profile.periods
    if not periods:
        bad("chargingschedule_period", "needs at least one period")
    else:
        if periods[0].start_period != 0:
            bad("chargingschedule_period.0.start_period", "the first period must start at 0")
        for i, (prev, cur) in enumerate(pairwise(periods), start=1):
            if cur.start_period <= prev.start_period:
                bad(
                    f"chargingschedule_period.{i}.start_period",
                    "periods must be in strictly increasing order of start_period",
                )
        for i, period in enumerate(periods):
            if not period.limit > 0:
                bad(f"chargingschedule_period.{i}.limit", "must be > 0")
            elif not _tenths(period.limit):
                bad(f"chargingschedule_period.{i}.limit", "must be a multiple of 0.1")
            if period.number_phases is not None and period.number_phases not in (1, 2, 3):
                bad(f"chargingschedule_period.{i}.number_phases", "must be 1, 2 or 3")
            if profile.duration is not None and period.start_period >= profile.duration:
                bad(
                    f"chargingschedule_period.{i}.start_period",
                    "starts after the schedule's duration",
                )
    if profile.min_charging_rate is not None:
        if not profile.min_charging_rate > 0:
            bad("min_charging_rate", "must be > 0")
        elif not _tenths(profile.min_charging_rate):
            bad("min_charging_rate", "must be a multiple of 0.1")

    # §5.16.2: a new profile with the same stackLevel and purpose replaces the installed
    # one, so two definitions may not share (purpose, stack level) on one connector.
    for other in siblings:
        if (
            other.connector_id == profile.connector_id
            and other.purpose == profile.purpose
            and other.stack_level == profile.stack_level
        ):
            bad(
                "stack_level",
                f"profile {other.profile_id} already has purpose {profile.purpose} at stack "
                f"level {profile.stack_level} on connector {profile.connector_id}",
            )
            break
    return problems
