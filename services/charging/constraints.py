"""Caps on a session from what 2.0.1 stations report: external limits (NotifyChargingLimit,
`charging_limit`) and the EV's needs (NotifyEVChargingNeeds, `ev_charging_need`).

The load balancer takes the lowest cap as the session's maximum (loadmanager.py):

- an external limit on the session's EVSE caps it with the limit of its schedule now;
- an external limit on the whole station (evseId 0) is shared equally by the station's
  sessions (each gets limit / n: their sum stays within it);
- a limit reported without a schedule (source only), or whose schedule is not in force
  now, caps nothing;
- the EV's maximum (AC/DC evMaxCurrent in A, DC evMaxPower in W), converted to the grid
  limit's unit with 230 V and the session's phases.

A schedule (ChargingScheduleType, camelCase as received) starts at its `startSchedule`,
else when the limit was received; past its `duration` it is over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.charging.schedule import DEFAULT_VOLTAGE, convert
from shared.db.models import ChargingLimit, EvChargingNeed
from shared.ocpp import parse_datetime

STATION = 0


@dataclass(frozen=True, slots=True)
class SessionKey:
    """What the caps need of a session."""

    transaction_id: int
    chargepoint_id: str
    connector_id: int
    phases: int


def schedule_limit(
    schedule: dict[str, Any], *, received: datetime, now: datetime, unit: str, phases: int
) -> float | None:
    """The limit of one ChargingScheduleType at `now` in `unit` (None: not in force)."""
    start_raw = schedule.get("startSchedule")
    start = parse_datetime(start_raw) if isinstance(start_raw, str) else received
    elapsed = (now - start).total_seconds()
    duration = schedule.get("duration")
    if elapsed < 0 or (duration is not None and elapsed >= duration):
        return None
    current: dict[str, Any] | None = None
    for period in sorted(schedule.get("chargingSchedulePeriod", []), key=_start):
        if _start(period) <= elapsed:
            current = period
    if current is None:
        return None
    n = current.get("numberPhases") or phases
    return convert(float(current["limit"]), n, schedule["chargingRateUnit"], unit, DEFAULT_VOLTAGE)


def _start(period: dict[str, Any]) -> int:
    return int(period["startPeriod"])


def limit_now(limit: ChargingLimit, *, now: datetime, unit: str, phases: int) -> float | None:
    """The lowest limit of a reported external limit's schedules now (None: none)."""
    values = [
        v
        for s in limit.schedule or ()
        if (v := schedule_limit(s, received=limit.updated_at, now=now, unit=unit, phases=phases))
        is not None
    ]
    return min(values) if values else None


def ev_cap(need: EvChargingNeed, *, unit: str, phases: int) -> float | None:
    """The EV's maximum in `unit` (None: it gave none)."""
    caps: list[float] = []
    if need.ev_max_current is not None:
        caps.append(convert(float(need.ev_max_current), phases, "A", unit, DEFAULT_VOLTAGE))
    if need.ev_max_power is not None:
        caps.append(convert(float(need.ev_max_power), phases, "W", unit, DEFAULT_VOLTAGE))
    return min(caps) if caps else None


def caps_of(
    sessions: Sequence[SessionKey],
    limits: Iterable[ChargingLimit],
    needs: Iterable[EvChargingNeed],
    *,
    now: datetime,
    unit: str,
) -> dict[int, Decimal]:
    """Per transaction, the lowest cap (absent: no cap), rounded down to 0.1 (pure)."""
    per_station = Counter(s.chargepoint_id for s in sessions)
    by_station: dict[str, list[ChargingLimit]] = {}
    for limit in limits:
        by_station.setdefault(limit.chargepoint_id, []).append(limit)
    by_tx = {n.transaction_id: n for n in needs if n.transaction_id is not None}
    out: dict[int, Decimal] = {}
    for s in sessions:
        candidates: list[float] = []
        for limit in by_station.get(s.chargepoint_id, ()):
            if limit.evse_id not in (STATION, s.connector_id):
                continue
            value = limit_now(limit, now=now, unit=unit, phases=s.phases)
            if value is None:
                continue
            if limit.evse_id == STATION:
                value /= per_station[s.chargepoint_id]
            candidates.append(value)
        need = by_tx.get(s.transaction_id)
        if need is not None and (cap := ev_cap(need, unit=unit, phases=s.phases)) is not None:
            candidates.append(cap)
        if candidates:
            out[s.transaction_id] = (Decimal(str(min(candidates))) * 10).to_integral_value(
                rounding="ROUND_FLOOR"
            ) / 10
    return out


async def load_caps(
    session: AsyncSession, sessions: Sequence[SessionKey], *, now: datetime, unit: str
) -> dict[int, Decimal]:
    """`caps_of` with the limits and needs of the sessions' stations from the database."""
    if not sessions:
        return {}
    stations = {s.chargepoint_id for s in sessions}
    limits = list(
        await session.scalars(
            select(ChargingLimit).where(ChargingLimit.chargepoint_id.in_(stations))
        )
    )
    needs = list(
        await session.scalars(
            select(EvChargingNeed).where(
                EvChargingNeed.transaction_id.in_([s.transaction_id for s in sessions])
            )
        )
    )
    return caps_of(sessions, limits, needs, now=now, unit=unit)
