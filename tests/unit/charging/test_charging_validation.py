"""OCPP 1.6 §3.13 profile rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from shared.charging.schedule import CHARGE_POINT_MAX, TX_DEFAULT, TX_PROFILE, Period, Profile
from shared.charging.validation import validate_profile

T0 = datetime(2026, 3, 2, tzinfo=UTC)

BASE = Profile(
    profile_id=1,
    connector_id=1,
    stack_level=0,
    purpose=TX_DEFAULT,
    kind="Absolute",
    unit="A",
    periods=(Period(0, 16.0), Period(600, 8.0)),
    start_schedule=T0,
)


def fields(p: Profile, **kw: object) -> set[str]:
    return {x.field for x in validate_profile(p, active_transaction_id=None, **kw)}  # type: ignore[arg-type]


def test_valid_profile() -> None:
    assert fields(BASE) == set()


def test_charge_point_max_only_on_connector_zero() -> None:
    assert fields(replace(BASE, purpose=CHARGE_POINT_MAX)) == {"connector_id"}
    assert fields(replace(BASE, purpose=CHARGE_POINT_MAX, connector_id=0)) == set()


def test_tx_profile_needs_active_transaction() -> None:
    tx = replace(BASE, purpose=TX_PROFILE, kind="Relative", start_schedule=None)
    assert fields(tx) == {"transaction_id"}
    assert validate_profile(tx, active_transaction_id=5) == []
    assert {
        p.field for p in validate_profile(replace(tx, transaction_id=4), active_transaction_id=5)
    } == {"transaction_id"}
    assert "connector_id" in {
        p.field for p in validate_profile(replace(tx, connector_id=0), active_transaction_id=5)
    }
    reserved = validate_profile(
        replace(tx, stack_level=8), active_transaction_id=5, reserved_stack_level=8
    )
    assert [p.field for p in reserved] == ["stack_level"]


def test_periods_start_at_zero_in_order_with_positive_limits() -> None:
    assert fields(replace(BASE, periods=(Period(60, 16.0),))) == {
        "chargingschedule_period.0.start_period"
    }
    assert fields(replace(BASE, periods=(Period(0, 16.0), Period(0, 8.0)))) == {
        "chargingschedule_period.1.start_period"
    }
    assert fields(replace(BASE, periods=(Period(0, 0.0),))) == {"chargingschedule_period.0.limit"}
    assert fields(replace(BASE, periods=(Period(0, 1.05),))) == {"chargingschedule_period.0.limit"}
    assert fields(replace(BASE, periods=())) == {"chargingschedule_period"}


def test_unique_purpose_and_stack_level_per_connector() -> None:
    other = replace(BASE, profile_id=2)
    assert fields(BASE, siblings=[other]) == {"stack_level"}
    assert fields(BASE, siblings=[replace(other, stack_level=1)]) == set()
    assert fields(BASE, siblings=[replace(other, connector_id=2)]) == set()


def test_kinds_and_windows() -> None:
    assert fields(replace(BASE, kind="Recurring")) == {"recurrency_kind"}
    assert fields(replace(BASE, kind="Recurring", recurrency_kind="Daily")) == set()
    assert fields(replace(BASE, recurrency_kind="Daily")) == {"recurrency_kind"}
    assert fields(replace(BASE, kind="Relative")) == {"start_schedule"}
    assert fields(replace(BASE, valid_from=T0, valid_to=T0)) == {"valid_to"}
    assert fields(replace(BASE, min_charging_rate=0.0)) == {"min_charging_rate"}
    assert fields(replace(BASE, purpose="ChargingStationMaxProfile")) == {"chargingprofile_purpose"}
