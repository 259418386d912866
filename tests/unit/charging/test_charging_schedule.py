"""Composite schedules: hand-checked cases and a property test against a per-minute reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.charging.schedule import (
    CHARGE_POINT_MAX,
    TX_DEFAULT,
    TX_PROFILE,
    CompositeSchedule,
    Period,
    Profile,
    Transaction,
    composite_schedule,
    limit_at,
)

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
MIN = 60


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    connector: int = 1,
    stack: int = 0,
    kind: str = "Absolute",
    start: datetime | None = T0,
    **kw: object,
) -> Profile:
    return Profile(
        profile_id=pid,
        connector_id=connector,
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        unit=str(kw.pop("unit", "A")),
        periods=tuple(Period(s, v) for s, v in periods),
        start_schedule=start if kind != "Relative" else None,
        **kw,  # type: ignore[arg-type]
    )


def limits(s: CompositeSchedule) -> list[tuple[int, float | None]]:
    return [(p.start_period, p.limit) for p in s.periods]


def test_higher_stack_level_prevails_while_in_force() -> None:
    low = profile(1, TX_DEFAULT, [(0, 16.0)], stack=0)
    high = profile(2, TX_DEFAULT, [(0, 10.0)], stack=1, duration=30 * MIN)
    s = composite_schedule([low, high], connector_id=1, start=T0, duration=3600, unit="A")
    assert limits(s) == [(0, 10.0), (1800, 16.0)]


def test_tx_profile_overrides_tx_default_at_any_stack_level() -> None:
    default = profile(1, TX_DEFAULT, [(0, 10.0)], stack=5)
    tx = profile(2, TX_PROFILE, [(0, 20.0)], stack=0, kind="Relative")
    run = Transaction(T0 + timedelta(minutes=10), 7)
    s = composite_schedule(
        [default, tx], connector_id=1, start=T0, duration=3600, unit="A", transaction=run
    )
    assert limits(s) == [(0, 10.0), (600, 20.0)]
    # Without a transaction the TxProfile does not apply.
    s = composite_schedule([default, tx], connector_id=1, start=T0, duration=3600, unit="A")
    assert limits(s) == [(0, 10.0)]


def test_charge_point_max_caps_everything() -> None:
    cap = profile(1, CHARGE_POINT_MAX, [(0, 32.0), (600, 8.0)], connector=0)
    tx = profile(2, TX_DEFAULT, [(0, 16.0)])
    s = composite_schedule([cap, tx], connector_id=1, start=T0, duration=3600, unit="A")
    assert limits(s) == [(0, 16.0), (600, 8.0)]
    # Connector 0 sees only the charge point maximum.
    s0 = composite_schedule([cap, tx], connector_id=0, start=T0, duration=3600, unit="A")
    assert limits(s0) == [(0, 32.0), (600, 8.0)]


def test_connector_tx_default_replaces_connector_zero_default() -> None:
    everywhere = profile(1, TX_DEFAULT, [(0, 10.0)], connector=0, stack=3)
    own = profile(2, TX_DEFAULT, [(0, 20.0)], connector=2, stack=0)
    assert limit_at([everywhere, own], connector_id=2, at=T0, unit="A").limit == 20.0
    assert limit_at([everywhere, own], connector_id=1, at=T0, unit="A").limit == 10.0


def test_daily_recurrence_and_validity_window() -> None:
    night = profile(
        1,
        TX_DEFAULT,
        [(0, 6.0), (6 * 3600, 16.0)],
        kind="Recurring",
        recurrency_kind="Daily",
        valid_to=T0 + timedelta(days=1, hours=12),
    )
    s = composite_schedule([night], connector_id=1, start=T0, duration=2 * 86400, unit="A")
    assert limits(s) == [(0, 6.0), (21600, 16.0), (86400, 6.0), (108000, 16.0), (129600, None)]


def test_units_convert_with_phases() -> None:
    watts = profile(1, TX_DEFAULT, [(0, 11040.0)], unit="W")
    assert limit_at([watts], connector_id=1, at=T0, unit="A").limit == 16.0
    amps = Profile(2, 1, 1, TX_DEFAULT, "Absolute", "A", (Period(0, 10.0, 1),), start_schedule=T0)
    assert limit_at([amps], connector_id=1, at=T0, unit="W").limit == 2300.0


# ------------------------------------------------------------------- property test


def _ref_period(p: Profile, t: datetime, tx: Transaction | None) -> Period | None:
    """The period of p in force at t, computed the slow obvious way."""
    if p.valid_from is not None and t < p.valid_from:
        return None
    if p.valid_to is not None and t >= p.valid_to:
        return None
    if p.kind == "Relative" or p.start_schedule is None:
        if tx is None:
            return None
        start = tx.start
    else:
        start = p.start_schedule
    if p.kind == "Recurring":
        step = timedelta(days=1 if p.recurrency_kind == "Daily" else 7)
        if t < start:
            return None
        while start + step <= t:
            start += step
    if t < start:
        return None
    offset = (t - start).total_seconds()
    if p.duration is not None and offset >= p.duration:
        return None
    found = None
    for period in p.periods:
        if period.start_period <= offset:
            found = period
    return found


def _ref_best(ps: list[Profile], t: datetime, tx: Transaction | None) -> float | None:
    best: tuple[int, int, float] | None = None
    for p in ps:
        period = _ref_period(p, t, tx)
        if period is not None and (best is None or (p.stack_level, p.profile_id) > best[:2]):
            best = (p.stack_level, p.profile_id, period.limit)
    return None if best is None else best[2]


def reference(
    profiles: list[Profile], connector: int, t: datetime, tx: Transaction | None
) -> float | None:
    cap = _ref_best(
        [p for p in profiles if p.purpose == CHARGE_POINT_MAX and p.connector_id == 0], t, tx
    )
    own = [p for p in profiles if p.purpose == TX_DEFAULT and p.connector_id == connector]
    zero = [p for p in profiles if p.purpose == TX_DEFAULT and p.connector_id == 0]
    txp = [p for p in profiles if p.purpose == TX_PROFILE and p.connector_id == connector]
    value = _ref_best(txp, t, tx) if tx is not None else None
    if value is None:
        value = _ref_best(own or zero, t, tx)
    candidates = [v for v in (cap, value) if v is not None]
    return min(candidates) if candidates else None


minutes = st.integers(min_value=0, max_value=3 * 24 * 60)


@st.composite
def profiles_st(draw: st.DrawFn, pid: int) -> Profile:
    purpose = draw(st.sampled_from([CHARGE_POINT_MAX, TX_DEFAULT, TX_PROFILE]))
    connector = 0 if purpose == CHARGE_POINT_MAX else draw(st.sampled_from([0, 1, 1]))
    if purpose == TX_PROFILE:
        connector = 1
    kind = draw(st.sampled_from(["Absolute", "Recurring", "Relative"]))
    starts = sorted(draw(st.sets(st.integers(1, 24 * 60), max_size=4)))
    periods = tuple(Period(s * MIN, draw(st.integers(1, 640)) / 10) for s in [0, *starts])
    start = T0 + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 2 * 24 * 60)))
    valid_from = draw(st.none() | minutes.map(lambda m: T0 + timedelta(minutes=m)))
    valid_to = draw(st.none() | minutes.map(lambda m: T0 + timedelta(minutes=m)))
    return Profile(
        profile_id=pid,
        connector_id=connector,
        stack_level=draw(st.integers(0, 3)),
        purpose=purpose,
        kind=kind,
        unit="A",
        periods=periods,
        recurrency_kind=draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None,
        valid_from=valid_from,
        valid_to=valid_to,
        duration=draw(st.none() | st.integers(1, 3 * 24 * 60).map(lambda m: m * MIN)),
        start_schedule=None
        if kind == "Relative"
        else draw(st.sampled_from([start, start, None]))
        if kind == "Absolute"
        else start,
    )


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Profile], Transaction | None, int, int]:
    n = draw(st.integers(0, 6))
    profiles = [draw(profiles_st(i + 1)) for i in range(n)]
    tx = draw(
        st.none()
        | st.integers(-24 * 60, 24 * 60).map(lambda m: Transaction(T0 + timedelta(minutes=m), 1))
    )
    window_start = draw(st.integers(0, 24 * 60))
    window_minutes = draw(st.integers(1, 2 * 24 * 60))
    return profiles, tx, window_start, window_minutes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_composite_matches_minute_by_minute_reference(
    case: tuple[list[Profile], Transaction | None, int, int],
) -> None:
    profiles, tx, window_start, window_minutes = case
    start = T0 + timedelta(minutes=window_start)
    s = composite_schedule(
        profiles,
        connector_id=1,
        start=start,
        duration=window_minutes * MIN,
        unit="A",
        transaction=tx,
    )
    assert s.periods and s.periods[0].start_period == 0
    assert all(
        a.start_period < b.start_period for a, b in zip(s.periods, s.periods[1:], strict=False)
    )
    assert all(a.limit != b.limit for a, b in zip(s.periods, s.periods[1:], strict=False))
    i = 0
    for minute in range(window_minutes):
        offset = minute * MIN
        while i + 1 < len(s.periods) and s.periods[i + 1].start_period <= offset:
            i += 1
        t = start + timedelta(seconds=offset)
        expected = reference(profiles, 1, t, tx)
        assert s.periods[i].limit == expected, (minute, t)
        assert limit_at(profiles, connector_id=1, at=t, unit="A", transaction=tx).limit == expected
