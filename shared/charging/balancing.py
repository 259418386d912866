"""Site load balancing: share a location's grid limit between its charging sessions (pure).

Inputs: the grid limit and its unit (`A` per phase, or `W`), the strategy, and the sessions
that draw from the grid (active transactions of connected charge points), each with the most
its connector may take, the least it can charge with (OCPP minChargingRate; IEC 61851 needs
6 A to charge at all) and its phases. Output: one limit per session; 0 means paused.

The arithmetic is done in integer steps of the unit's resolution (0.1 A, 1 W), so the sum of
the limits never exceeds the grid limit by a rounding error:

1. Admission, first come first served (transaction start, then id): sessions are admitted
   while the sum of the admitted minimums fits; the others are paused (limit 0), since a
   charger cannot charge below its minimum.
2. The admitted sessions share the grid limit by water-filling: every session gets
   `clamp(level * weight, min, max)` with the largest level whose sum fits; `equal` has
   weight 1 for everyone, `by_connector_max` weight = the connector's maximum (shares
   proportional to what each connector can take). Steps left over by rounding go one by one
   to the sessions, in admission order, that are still below their maximum.

Amperes: "A per phase" is treated conservatively as one phase carrying every session (the
sum of the per-phase currents must fit), which is exact for three-phase sessions and safe
for single-phase ones whose phase rotation is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Final

EQUAL: Final = "equal"
BY_CONNECTOR_MAX: Final = "by_connector_max"
STRATEGIES: Final = (EQUAL, BY_CONNECTOR_MAX)

STEP: Final[dict[str, Decimal]] = {"A": Decimal("0.1"), "W": Decimal("1")}
"""The resolution of the limits sent (OCPP 1.6 limits are multiples of 0.1)."""

DEFAULT_MAX_CURRENT: Final = Decimal("32")
"""A connector's maximum when no profile says otherwise (A per phase)."""
DEFAULT_MIN_CURRENT: Final = Decimal("6")
"""IEC 61851-1: the least current a vehicle charges with (A per phase)."""

BALANCING_STACK_LEVEL: Final = 8
"""Stack level of the TxProfiles the load balancer installs; operators' TxProfiles stay below
at balanced locations, so the balancer's limit prevails (OCPP 1.6 §3.13.2)."""
BALANCING_PROFILE_ID_BASE: Final = 2_000_000_000
"""chargingProfileId of the balancer's TxProfile on connector n: base + n (far above the
identity of operator-defined profiles), so each new limit replaces the previous one."""

_SEARCH_STEPS: Final = 64


@dataclass(frozen=True, slots=True)
class Session:
    """One active transaction drawing from the site, limits in the grid's unit."""

    transaction_id: int
    chargepoint_id: str
    connector_id: int
    started_at: datetime
    max_rate: Decimal
    min_rate: Decimal
    phases: int = 3


@dataclass(frozen=True, slots=True)
class Allocation:
    """The limit given to one session (in the grid's unit); 0 = paused."""

    transaction_id: int
    chargepoint_id: str
    connector_id: int
    limit: Decimal
    paused: bool


def _ticks_floor(value: Decimal, step: Decimal) -> int:
    return int((value / step).to_integral_value(rounding=ROUND_FLOOR))


def _ticks_ceil(value: Decimal, step: Decimal) -> int:
    return int((value / step).to_integral_value(rounding=ROUND_CEILING))


def _water_fill(mins: list[int], maxs: list[int], weights: list[int], budget: int) -> list[int]:
    """Integer water-filling: clamp(floor(level * w), min, max) with the largest level that
    fits `budget`, then the leftover ticks one by one in order (sum(mins) <= budget)."""

    def at(level: Fraction) -> list[int]:
        return [
            min(mx, max(mn, math.floor(level * w)))
            for mn, mx, w in zip(mins, maxs, weights, strict=True)
        ]

    lo, hi = Fraction(0), Fraction(max(maxs, default=0) + 1, max(min(weights, default=1), 1))
    if sum(at(hi)) <= budget:
        shares = at(hi)
    else:
        for _ in range(_SEARCH_STEPS):
            mid = (lo + hi) / 2
            if sum(at(mid)) <= budget:
                lo = mid
            else:
                hi = mid
        shares = at(lo)
    left = budget - sum(shares)
    while left > 0:
        gave = False
        for i, share in enumerate(shares):
            if left > 0 and share < maxs[i]:
                shares[i] += 1
                left -= 1
                gave = True
        if not gave:
            break
    return shares


def allocate(
    *, grid_limit: Decimal, unit: str, strategy: str, sessions: Sequence[Session]
) -> list[Allocation]:
    """Each session's limit (in `unit`), in the order of `sessions`; the sum fits the grid."""
    if unit not in STEP:
        raise ValueError(f"unknown unit {unit!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    step = STEP[unit]
    budget = max(0, _ticks_floor(grid_limit, step))
    order = sorted(
        range(len(sessions)),
        key=lambda i: (sessions[i].started_at, sessions[i].transaction_id),
    )
    admitted: list[int] = []
    mins: list[int] = []
    maxs: list[int] = []
    used = 0
    for i in order:
        s = sessions[i]
        mx = max(0, _ticks_floor(s.max_rate, step))
        mn = min(max(1, _ticks_ceil(s.min_rate, step)), mx)
        if mx == 0 or used + mn > budget:
            continue
        admitted.append(i)
        mins.append(mn)
        maxs.append(mx)
        used += mn
    weights = [1] * len(admitted) if strategy == EQUAL else list(maxs)
    shares = _water_fill(mins, maxs, weights, budget)
    ticks = dict(zip(admitted, shares, strict=True))
    result = []
    for i, s in enumerate(sessions):
        t = ticks.get(i, 0)
        result.append(
            Allocation(
                transaction_id=s.transaction_id,
                chargepoint_id=s.chargepoint_id,
                connector_id=s.connector_id,
                limit=step * t if t else Decimal(0),
                paused=t == 0,
            )
        )
    return result


def default_max(unit: str, phases: int, voltage: float = 230.0) -> Decimal:
    """The assumed maximum of a connector no profile limits."""
    if unit == "A":
        return DEFAULT_MAX_CURRENT
    return DEFAULT_MAX_CURRENT * Decimal(str(voltage)) * phases


def default_min(unit: str, phases: int, voltage: float = 230.0) -> Decimal:
    """The assumed minimum charging rate of a session whose profiles give none."""
    if unit == "A":
        return DEFAULT_MIN_CURRENT
    return DEFAULT_MIN_CURRENT * Decimal(str(voltage)) * phases


def balancing_profile_id(connector_id: int) -> int:
    """The chargingProfileId of the balancer's TxProfile on `connector_id`."""
    return BALANCING_PROFILE_ID_BASE + connector_id
