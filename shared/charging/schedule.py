"""Composite charging schedules (OCPP 1.6 §3.13), computed by the central system itself.

Pure functions over `Profile` values: no database, no clock. The rules:

- A profile is *in force* at time t when t is inside its validity window
  (`valid_from <= t < valid_to`) and inside its schedule: t >= the schedule's start and,
  when `duration` is set, t < start + duration. The schedule start is, by kind:
  Absolute: `start_schedule` (absent: the transaction start, OCPP 1.6 §7.13 "If absent the
  schedule will be relative to start of charging"); Relative: the transaction start;
  Recurring: the latest `start_schedule + k * (1 day | 1 week)` not after t (k >= 0), a
  duration longer than the recurrence period being cut at the next occurrence.
- Within one purpose the profile in force with the highest stack level prevails
  (§3.13.2 "the profile with the highest stackLevel ... prevails"); equal stack levels
  (which validation refuses) are resolved by the highest profile id.
- A TxProfile in force overrides the TxDefaultProfile, whatever their stack levels
  (§3.13.2 "TxProfile ... overrules TxDefaultProfile"); it applies only while a transaction
  runs on the connector (and only to its own transaction when it names one).
- TxDefaultProfiles of the connector itself replace those of connector 0 (§5.16.2: "the
  TxDefaultProfile SHALL be replaced only for that specific connector").
- ChargePointMaxProfile (connector 0 only) caps the result: the composite limit is the
  minimum of the ChargePointMax limit and the Tx/TxDefault limit.
- Units: A and W convert with `voltage` (230 V) and the period's numberPhases (default 3).
  `None` means no profile limits the connector at that time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

CHARGE_POINT_MAX: Final = "ChargePointMaxProfile"
STATION_MAX: Final = "ChargingStationMaxProfile"
"""OCPP 2.0.1's name of ChargePointMaxProfile (a stored 2.0.1 profile keeps it; the schedule
code reads it as CHARGE_POINT_MAX: shared/charging/profiles.py)."""
TX_DEFAULT: Final = "TxDefaultProfile"
TX_PROFILE: Final = "TxProfile"

DAY: Final = 86_400
WEEK: Final = 7 * DAY
RECURRENCY_SECONDS: Final[dict[str, int]] = {"Daily": DAY, "Weekly": WEEK}

DEFAULT_VOLTAGE: Final = 230.0
DEFAULT_PHASES: Final = 3


@dataclass(frozen=True, slots=True)
class Period:
    """One ChargingSchedulePeriod: from `start_period` seconds after the schedule start."""

    start_period: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """A charging profile as far as the composite schedule is concerned."""

    profile_id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: tuple[Period, ...]
    recurrency_kind: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    duration: int | None = None
    start_schedule: datetime | None = None
    min_charging_rate: float | None = None
    transaction_id: int | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """The limit in force at one moment, in the requested unit (None: unlimited)."""

    limit: float | None
    number_phases: int | None = None
    min_charging_rate: float | None = None


@dataclass(frozen=True, slots=True)
class CompositePeriod:
    """A period of the composite schedule: from `start_period` seconds after its start."""

    start_period: int
    limit: float | None
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    """The limit over [start, start + duration) for one connector."""

    connector_id: int
    start: datetime
    duration: int
    unit: str
    periods: list[CompositePeriod] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Transaction:
    """The transaction running on the connector, if any (Relative profiles start with it)."""

    start: datetime
    transaction_id: int | None = None


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def convert(
    value: float, phases: int | None, from_unit: str, to_unit: str, voltage: float
) -> float:
    """A limit in another unit: W = A * voltage * phases."""
    if from_unit == to_unit:
        return value
    n = phases or DEFAULT_PHASES
    if from_unit == "A":
        return value * voltage * n
    return value / (voltage * n)


def schedule_start(profile: Profile, t: float, tx: Transaction | None) -> float | None:
    """The start (epoch seconds) of the occurrence of `profile`'s schedule in force at t."""
    if profile.kind == "Relative":
        return _ts(tx.start) if tx is not None else None
    if profile.start_schedule is None:
        return _ts(tx.start) if tx is not None else None
    start = _ts(profile.start_schedule)
    if profile.kind == "Recurring":
        period = RECURRENCY_SECONDS.get(profile.recurrency_kind or "", 0)
        if period and t >= start:
            start += math.floor((t - start) / period) * period
    return start


def _period_at(profile: Profile, t: float, tx: Transaction | None) -> Period | None:
    """The schedule period of `profile` in force at t, or None if the profile is not."""
    if profile.valid_from is not None and t < _ts(profile.valid_from):
        return None
    if profile.valid_to is not None and t >= _ts(profile.valid_to):
        return None
    start = schedule_start(profile, t, tx)
    if start is None or t < start:
        return None
    offset = t - start
    if profile.duration is not None and offset >= profile.duration:
        return None
    current: Period | None = None
    for period in profile.periods:
        if period.start_period <= offset:
            current = period
        else:
            break
    return current


def _prevailing(
    profiles: Iterable[Profile], t: float, tx: Transaction | None
) -> tuple[Profile, Period] | None:
    best: tuple[Profile, Period] | None = None
    for profile in profiles:
        period = _period_at(profile, t, tx)
        if period is None:
            continue
        if best is None or (profile.stack_level, profile.profile_id) > (
            best[0].stack_level,
            best[0].profile_id,
        ):
            best = (profile, period)
    return best


@dataclass(frozen=True, slots=True)
class _Candidates:
    charge_point_max: tuple[Profile, ...]
    tx_default: tuple[Profile, ...]
    tx: tuple[Profile, ...]


def _candidates(
    profiles: Sequence[Profile], connector_id: int, tx: Transaction | None
) -> _Candidates:
    cp_max = tuple(p for p in profiles if p.purpose == CHARGE_POINT_MAX and p.connector_id == 0)
    if connector_id == 0:
        return _Candidates(cp_max, (), ())
    own_default = tuple(
        p for p in profiles if p.purpose == TX_DEFAULT and p.connector_id == connector_id
    )
    tx_default = own_default or tuple(
        p for p in profiles if p.purpose == TX_DEFAULT and p.connector_id == 0
    )
    tx_profiles: tuple[Profile, ...] = ()
    if tx is not None:
        tx_profiles = tuple(
            p
            for p in profiles
            if p.purpose == TX_PROFILE
            and p.connector_id == connector_id
            and (
                p.transaction_id is None
                or tx.transaction_id is None
                or p.transaction_id == tx.transaction_id
            )
        )
    return _Candidates(cp_max, tx_default, tx_profiles)


def _limit(c: _Candidates, t: float, tx: Transaction | None, unit: str, voltage: float) -> Limit:
    chosen: list[tuple[Profile, Period]] = []
    cp_max = _prevailing(c.charge_point_max, t, tx)
    if cp_max is not None:
        chosen.append(cp_max)
    tx_limit = _prevailing(c.tx, t, tx) or _prevailing(c.tx_default, t, tx)
    if tx_limit is not None:
        chosen.append(tx_limit)
    if not chosen:
        return Limit(None)
    value, phases = math.inf, None
    for profile, period in chosen:
        converted = convert(period.limit, period.number_phases, profile.unit, unit, voltage)
        if converted < value:
            value, phases = converted, period.number_phases
    min_rate: float | None = None
    if tx_limit is not None and tx_limit[0].min_charging_rate is not None:
        profile, period = tx_limit
        assert profile.min_charging_rate is not None
        min_rate = convert(
            profile.min_charging_rate, period.number_phases, profile.unit, unit, voltage
        )
    return Limit(value, phases, min_rate)


def limit_at(
    profiles: Sequence[Profile],
    *,
    connector_id: int,
    at: datetime,
    unit: str,
    transaction: Transaction | None = None,
    voltage: float = DEFAULT_VOLTAGE,
) -> Limit:
    """The composite limit of `connector_id` at one moment, in `unit`."""
    c = _candidates(profiles, connector_id, transaction)
    return _limit(c, _ts(at), transaction, unit, voltage)


def _breakpoints(profile: Profile, lo: float, hi: float, tx: Transaction | None) -> set[float]:
    """Every instant in (lo, hi) where `profile`'s contribution may change."""
    points: set[float] = set()
    for bound in (profile.valid_from, profile.valid_to):
        if bound is not None:
            points.add(_ts(bound))
    starts: list[float] = []
    recurrence = RECURRENCY_SECONDS.get(profile.recurrency_kind or "", 0)
    if profile.kind == "Recurring" and recurrence and profile.start_schedule is not None:
        origin = _ts(profile.start_schedule)
        occurrence = origin + max(0, math.floor((lo - origin) / recurrence)) * recurrence
        while occurrence < hi:
            starts.append(occurrence)
            occurrence += recurrence
    else:
        first = schedule_start(profile, lo, tx)
        if first is not None:
            starts.append(first)
    for start in starts:
        for period in profile.periods:
            points.add(start + period.start_period)
        if profile.duration is not None:
            points.add(start + profile.duration)
    return {p for p in points if lo < p < hi}


def composite_schedule(
    profiles: Sequence[Profile],
    *,
    connector_id: int,
    start: datetime,
    duration: int,
    unit: str,
    transaction: Transaction | None = None,
    voltage: float = DEFAULT_VOLTAGE,
) -> CompositeSchedule:
    """The composite schedule of `connector_id` over [start, start + duration), in `unit`.

    Consecutive periods with the same limit are merged; a period's `limit` is None where no
    profile limits the connector.
    """
    if duration <= 0:
        raise ValueError("duration must be positive")
    c = _candidates(profiles, connector_id, transaction)
    lo = _ts(start)
    hi = lo + duration
    points: set[float] = set()
    for profile in (*c.charge_point_max, *c.tx_default, *c.tx):
        points |= _breakpoints(profile, lo, hi, transaction)
    # startPeriod is a whole number of seconds: an instant inside a second counts from the
    # next whole second (the limit in force during that second is the earlier one's).
    seconds = sorted({math.ceil(p - lo) for p in points} - {0})
    periods: list[CompositePeriod] = []
    for offset in [0, *[s for s in seconds if 0 < s < duration]]:
        value = _limit(c, lo + offset, transaction, unit, voltage)
        if (
            periods
            and periods[-1].limit == value.limit
            and (periods[-1].number_phases == value.number_phases)
        ):
            continue
        periods.append(CompositePeriod(offset, value.limit, value.number_phases))
    return CompositeSchedule(connector_id, start, duration, unit, periods)


def window_end(start: datetime, duration: int) -> datetime:
    """`start + duration` seconds."""
    return start + timedelta(seconds=duration)
