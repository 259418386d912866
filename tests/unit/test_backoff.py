"""Brute-force back-off: free failures, doubling waits up to the cap, bounded memory."""

from __future__ import annotations

import pytest

from shared.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_free_failures_then_doubling_waits_capped() -> None:
    clock = Clock()
    b = Backoff(free_failures=3, base_delay=1, max_delay=8, clock=clock)
    key = ("CP-1", "10.0.0.1")
    assert [b.failure(key) for _ in range(3)] == [0, 0, 0]
    assert b.retry_after(key) is None
    assert b.failure(key) == 1
    assert b.retry_after(key) == 1
    assert [b.failure(key) for _ in range(4)] == [2, 4, 8, 8]  # never more than the cap
    assert b.retry_after(key) == 8
    clock.now += 8
    assert b.retry_after(key) is None  # never locked out for good


def test_keys_are_independent_and_success_forgets() -> None:
    clock = Clock()
    b = Backoff(free_failures=1, clock=clock)
    attacker, station = ("CP-1", "203.0.113.9"), ("CP-1", "10.0.0.1")
    for _ in range(5):
        b.failure(attacker)
    assert b.retry_after(attacker) is not None
    assert b.retry_after(station) is None
    b.success(attacker)
    assert b.retry_after(attacker) is None


def test_quiet_keys_start_afresh() -> None:
    clock = Clock()
    b = Backoff(free_failures=1, max_delay=4, forget_after=100, clock=clock)
    for _ in range(3):
        b.failure("k")
    clock.now += 101
    assert b.failure("k") == 0  # counted from one again


def test_memory_is_bounded() -> None:
    b = Backoff(free_failures=0, max_entries=10, clock=Clock())
    for i in range(1000):
        b.failure(("CP", str(i)))
    assert len(b) == 10
    assert b.retry_after(("CP", "999")) is not None
    assert b.retry_after(("CP", "0")) is None  # the oldest went first


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(max_entries=0)
    with pytest.raises(ValueError):
        Backoff(base_delay=10, max_delay=1)
