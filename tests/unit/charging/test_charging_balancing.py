"""Site load balancing (pure): the sum fits, minimums are met or sessions paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.charging.balancing import BY_CONNECTOR_MAX, EQUAL, Session, allocate

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def session(i: int, mx: str = "32", mn: str = "6") -> Session:
    return Session(
        transaction_id=i,
        chargepoint_id=f"CP-{i}",
        connector_id=1,
        started_at=T0 + timedelta(seconds=i),
        max_rate=Decimal(mx),
        min_rate=Decimal(mn),
    )


def test_equal_share_capped_by_connector_max() -> None:
    out = allocate(
        grid_limit=Decimal("63"),
        unit="A",
        strategy=EQUAL,
        sessions=[session(1), session(2, mx="16"), session(3)],
    )
    assert [a.limit for a in out] == [Decimal("23.5"), Decimal("16"), Decimal("23.5")]


def test_by_connector_max_is_proportional() -> None:
    out = allocate(
        grid_limit=Decimal("24"),
        unit="A",
        strategy=BY_CONNECTOR_MAX,
        sessions=[session(1, mx="32", mn="1"), session(2, mx="16", mn="1")],
    )
    assert [a.limit for a in out] == [Decimal("16"), Decimal("8")]


def test_latecomers_are_paused_when_minimums_do_not_fit() -> None:
    out = allocate(
        grid_limit=Decimal("16"),
        unit="A",
        strategy=EQUAL,
        sessions=[session(3), session(1), session(2)],
    )
    by_tx = {a.transaction_id: a for a in out}
    assert by_tx[1].limit == Decimal("8") and by_tx[2].limit == Decimal("8")
    assert by_tx[3].paused and by_tx[3].limit == 0


def test_watts_are_whole() -> None:
    out = allocate(
        grid_limit=Decimal("10000"),
        unit="W",
        strategy=EQUAL,
        sessions=[session(i, mx="22080", mn="1380") for i in range(3)],
    )
    assert [a.limit for a in out] == [Decimal(3334), Decimal(3333), Decimal(3333)]


def test_unknown_strategy_refused() -> None:
    with pytest.raises(ValueError):
        allocate(grid_limit=Decimal(1), unit="A", strategy="random", sessions=[])


rates = st.integers(0, 640).map(lambda n: Decimal(n) / 10)


@settings(max_examples=300, deadline=None)
@given(
    grid=st.integers(0, 5000).map(lambda n: Decimal(n) / 10),
    strategy=st.sampled_from([EQUAL, BY_CONNECTOR_MAX]),
    specs=st.lists(st.tuples(rates, rates), max_size=12),
)
def test_allocation_invariants(
    grid: Decimal, strategy: str, specs: list[tuple[Decimal, Decimal]]
) -> None:
    sessions = [
        Session(i, f"CP-{i}", 1, T0 + timedelta(seconds=i), max_rate=mx, min_rate=mn)
        for i, (mx, mn) in enumerate(specs)
    ]
    out = allocate(grid_limit=grid, unit="A", strategy=strategy, sessions=sessions)
    assert sum(a.limit for a in out) <= grid
    for s, a in zip(sessions, out, strict=True):
        assert a.paused == (a.limit == 0)
        assert a.limit <= s.max_rate
        if not a.paused:
            assert a.limit >= min(s.min_rate, s.max_rate)
        assert (a.limit * 10) % 1 == 0
    # Nothing is left unused while an admitted session is below its maximum.
    admitted = [(s, a) for s, a in zip(sessions, out, strict=True) if not a.paused]
    spare = grid - sum(a.limit for a in out)
    if spare >= Decimal("0.1"):
        assert all(a.limit >= (s.max_rate * 10 // 1) / 10 for s, a in admitted)
    # First come, first served: a session is paused only if its minimum did not fit next
    # to the minimums of the sessions admitted before it. An admitted session holds at least
    # one step (0.1 A): a limit of 0 would pause it.
    for s, a in zip(sessions, out, strict=True):
        if a.paused and s.max_rate >= Decimal("0.1"):
            earlier = sum(
                (
                    min(max(x.min_rate, Decimal("0.1")), x.max_rate)
                    for x, _ in admitted
                    if x.started_at < s.started_at
                ),
                Decimal(0),
            )
            assert earlier + max(s.min_rate, Decimal("0.1")) > grid
