"""The registry's pure decisions: boot answers, unknown-id policy, which report is latest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.policy import (
    MAX_CLOCK_AHEAD,
    boot_answer,
    clip,
    is_latest,
    report_time,
)
from shared.chargepoints import initial_registration_status
from shared.settings import UnknownChargePointPolicy

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (UnknownChargePointPolicy.PENDING, "Pending"),
        (UnknownChargePointPolicy.ACCEPT, "Accepted"),
        (UnknownChargePointPolicy.REJECT, "Rejected"),
    ],
)
def test_unknown_chargepoint_is_created_as_the_policy_says(
    policy: UnknownChargePointPolicy, expected: str
) -> None:
    assert initial_registration_status(policy) == expected


@pytest.mark.parametrize("status", ["Accepted", "Pending", "Rejected"])
def test_boot_answer_follows_registration_status(status: str) -> None:
    assert boot_answer(status, decommissioned=False) == status


@pytest.mark.parametrize("status", ["Accepted", "Pending", "Rejected"])
def test_decommissioned_chargepoint_is_rejected(status: str) -> None:
    assert boot_answer(status, decommissioned=True) == "Rejected"


def test_unknown_registration_value_is_never_accepted() -> None:
    assert boot_answer("Whatever", decommissioned=False) == "Pending"


def test_report_time_prefers_the_chargepoint_timestamp() -> None:
    clock = FakeClock(T0)
    reported = T0 - timedelta(seconds=30)
    assert report_time(reported, clock()) == reported


def test_report_time_without_timestamp_is_receipt_time() -> None:
    assert report_time(None, T0) == T0


def test_report_time_from_a_clock_running_ahead_is_receipt_time() -> None:
    assert report_time(T0 + MAX_CLOCK_AHEAD, T0) == T0 + MAX_CLOCK_AHEAD
    assert report_time(T0 + MAX_CLOCK_AHEAD + timedelta(seconds=1), T0) == T0


def test_out_of_order_reports_keep_the_newest() -> None:
    """Two reports sent in order, consumed in reverse: the older one must not apply."""
    clock = FakeClock(T0)
    older = report_time(None, clock())
    newer = report_time(None, clock.tick(2))
    stored: datetime | None = None
    for incoming in (newer, older):  # consumed out of order
        if is_latest(incoming, stored):
            stored = incoming
    assert stored == newer


def test_is_latest() -> None:
    assert is_latest(T0, None)
    assert is_latest(T0 + timedelta(microseconds=1), T0)
    assert is_latest(T0, T0)  # a redelivery rewrites the same values
    assert not is_latest(T0 - timedelta(microseconds=1), T0)


def test_clip() -> None:
    assert clip(None, 5) is None
    assert clip("abcdefgh", 5) == "abcde"
    assert clip("abc", 5) == "abc"
    assert clip(12345678, 4) == "1234"
    assert clip("abc", None) == "abc"
