"""Caps from 2.0.1 external limits and EV needs (services/charging/constraints.py, pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.charging.constraints import SessionKey, caps_of
from shared.db.models import ChargingLimit, EvChargingNeed

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def limit(evse: int, amps: float, **schedule: object) -> ChargingLimit:
    return ChargingLimit(
        chargepoint_id="CS",
        evse_id=evse,
        source="EMS",
        updated_at=T0,
        schedule=[
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}],
                **schedule,
            }
        ],
    )


SESSIONS = [SessionKey(1, "CS", 1, 3), SessionKey(2, "CS", 2, 3), SessionKey(3, "OTHER", 1, 3)]


def test_evse_limit_caps_its_session_and_station_limit_is_shared() -> None:
    caps = caps_of(SESSIONS, [limit(1, 10), limit(0, 25)], [], now=T0, unit="A")
    assert caps == {1: Decimal("10"), 2: Decimal("12.5")}


def test_limit_not_in_force_caps_nothing() -> None:
    later = limit(1, 10, startSchedule="2030-01-01T01:00:00Z")
    over = limit(2, 10, duration=60)
    caps = caps_of(SESSIONS, [later, over], [], now=T0 + timedelta(minutes=5), unit="A")
    assert caps == {}


def test_ev_maximum_in_the_grid_unit() -> None:
    need = EvChargingNeed(transaction_id=3, ev_max_current=Decimal(16), ev_max_power=None)
    assert caps_of(SESSIONS, [], [need], now=T0, unit="A") == {3: Decimal("16")}
    assert caps_of(SESSIONS, [], [need], now=T0, unit="W") == {3: Decimal("11040")}
