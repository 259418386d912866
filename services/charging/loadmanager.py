"""Site load balancing against the database: recompute a location, record what was sent.

A recomputation is three steps (`services/charging/sending.py` runs them): `decide` in one
short transaction, sending the changed limits with no transaction open, `record` in a
second short transaction keyed by the decision. Every recomputation starts from the
database (no state in the process), under the location's advisory lock
(`pg_advisory_xact_lock`, held only for the two short transactions). Competing replicas
take turns per location through the decision itself: while a decision of the location is
still "sending" (and younger than its lease), `decide` answers `Busy` and the caller waits
without holding a connection, so each recomputation sees what the previous one installed.

Sessions: the active transactions of the location's *connected* charge points (a charge
point that goes offline frees its share; its limit counts as unknown until it is back).
A session whose connector reports SuspendedEV, Finishing, Available, Faulted or Unavailable
is idle: it keeps only its minimum, so it can resume, and the others share the rest.

Sending order keeps the sum of the installed limits within the grid limit at every moment:
first every limit that goes down, then, only if all of those were accepted or their charge
points are offline, the limits that go up, those of new sessions and those whose installed
value is unknown (the charge point was offline or did not answer).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.charging.constraints import SessionKey, load_caps
from services.charging.installer import Station, outcome_label
from shared.charging import balancing
from shared.charging.profiles import to_schedule_profile
from shared.charging.schedule import (
    CHARGE_POINT_MAX,
    STATION_MAX,
    TX_DEFAULT,
    TX_PROFILE,
    Transaction,
    limit_at,
)
from shared.commands import CommandOutcome, Result
from shared.db.models import (
    BalancingAllocation,
    BalancingDecision,
    ChargePoint,
    ChargingProfile,
    Connector,
    Location,
)
from shared.db.models import Transaction as TransactionRow
from shared.events.outbox import PublicEvent, stage
from shared.ocpp.versions import OCPP201

log = logging.getLogger(__name__)

UNKNOWN_EVSE: Final = 0
LOCK_CLASS: Final = 0x43_48_47  # "CHG": the first key of the two-key advisory lock
IDLE_STATUSES: Final = frozenset(
    {"SuspendedEV", "Finishing", "Available", "Faulted", "Unavailable"}
)
IDLE_CHARGING_STATES: Final = frozenset({"SuspendedEV", "EVConnected", "Idle"})
"""OCPP 2.0.1 chargingState of an idle session (its connector status stays Occupied); not
SuspendedEVSE: the station suspends because of a limit, the session wants energy."""


def lock_key(location_uuid: uuid.UUID) -> int:
    """The second advisory-lock key of a location (32-bit signed)."""
    return int.from_bytes(location_uuid.bytes[:4], "big", signed=True)


async def lock_location(session: AsyncSession, location_uuid: uuid.UUID) -> None:
    """Serialise recomputations of one location across replicas (until commit)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:a, :b)"),
        {"a": LOCK_CLASS, "b": lock_key(location_uuid)},
    )


LOCATION_OF = select(ChargePoint.location_uuid).where(
    ChargePoint.chargepoint_id == bindparam("cp_id")
)
"""Built once: every balancing event runs it."""


async def location_of(session: AsyncSession, chargepoint_id: str) -> uuid.UUID | None:
    """The location of a charge point, if it has one."""
    location: uuid.UUID | None = await session.scalar(LOCATION_OF, {"cp_id": chargepoint_id})
    return location


@dataclass(frozen=True, slots=True)
class _Row:
    transaction_id: int
    chargepoint_id: str
    connector_id: int
    started_at: datetime
    connected: bool
    connector_status: str | None
    ocpp_version: str | None = None
    remote_transaction_id: str | None = None
    charging_state: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What one recomputation decided and sent (also stored as a balancing_decision row)."""

    location_uuid: uuid.UUID
    allocations: list[balancing.Allocation]
    sent: list[dict[str, Any]]
    recorded: bool


async def _active_rows(session: AsyncSession, location_uuid: uuid.UUID) -> list[_Row]:
    t, cp, c = TransactionRow, ChargePoint, Connector
    stmt = (
        select(
            t.transaction_id,
            t.chargepoint_id,
            t.connectorid,
            t.start_transaction_timestamp,
            cp.connected,
            c.connector_status,
            cp.ocpp_version,
            t.remote_transaction_id,
            t.charging_state,
        )
        .join(cp, cp.chargepoint_id == t.chargepoint_id)
        .outerjoin(c, (c.chargepoint_id == t.chargepoint_id) & (c.connectorid == t.connectorid))
        .where(cp.location_uuid == location_uuid, t.status == "Active")
        .order_by(t.start_transaction_timestamp, t.transaction_id)
    )
    return [_Row(*r) for r in (await session.execute(stmt)).all()]


async def _profiles_by_chargepoint(
    session: AsyncSession, chargepoint_ids: set[str]
) -> dict[str, list[ChargingProfile]]:
    out: dict[str, list[ChargingProfile]] = {cp: [] for cp in chargepoint_ids}
    if not chargepoint_ids:
        return out
    rows = await session.scalars(
        select(ChargingProfile).where(
            ChargingProfile.chargepoint_id.in_(chargepoint_ids),
            ChargingProfile.chargingprofile_purpose.in_(
                (CHARGE_POINT_MAX, STATION_MAX, TX_DEFAULT, TX_PROFILE)
            ),
        )
    )
    for row in rows:
        assert row.chargepoint_id is not None
        out[row.chargepoint_id].append(row)
    return out


def _session_of(
    row: _Row, profiles: list[ChargingProfile], unit: str, now: datetime
) -> balancing.Session:
    """A balancing session: its maximum and minimum from the operator's profiles at `now`."""
    schedule_profiles = [
        to_schedule_profile(p)
        for p in profiles
        if p.chargingprofile_purpose != TX_PROFILE or p.transaction_id in (None, row.transaction_id)
    ]
    limit = limit_at(
        schedule_profiles,
        connector_id=row.connector_id,
        at=now,
        unit=unit,
        transaction=Transaction(row.started_at, row.transaction_id),
    )
    phases = limit.number_phases or 3
    maximum = balancing.default_max(unit, phases)
    if limit.limit is not None:
        maximum = min(maximum, Decimal(str(limit.limit)))
    minimum = (
        Decimal(str(limit.min_charging_rate))
        if limit.min_charging_rate is not None
        else balancing.default_min(unit, phases)
    )
    if row.connector_status in IDLE_STATUSES or row.charging_state in IDLE_CHARGING_STATES:
        maximum = min(maximum, minimum)
    return balancing.Session(
        transaction_id=row.transaction_id,
        chargepoint_id=row.chargepoint_id,
        connector_id=row.connector_id,
        started_at=row.started_at,
        max_rate=maximum,
        min_rate=minimum,
        phases=phases,
    )


def _capped(s: balancing.Session, cap: Decimal | None) -> balancing.Session:
    """The session with its maximum (and minimum) no higher than `cap`."""
    if cap is None or cap >= s.max_rate:
        return s
    return replace(s, max_rate=cap, min_rate=min(s.min_rate, cap))


def accepted(outcome: CommandOutcome) -> bool:
    """True when a SetChargingProfile was accepted."""
    return isinstance(outcome, Result) and outcome.payload.get("status") == "Accepted"


RESEND: Final = "Pending"
"""`balancing_allocation.status` with a known `installed_limit`: send it again."""
SENDING: Final = "sending"
"""`outcome` of a planned send in `balancing_decision.sent` until its answer is recorded."""
IN_FLIGHT: Final = [{"outcome": SENDING}]  # JSONB containment: a decision still sending


@dataclass(frozen=True, slots=True)
class Busy:
    """Another recomputation of the location is still sending (its claim is fresh)."""

    decision_id: int


@dataclass(frozen=True, slots=True)
class Plan:
    """A committed decision whose changed limits are to be sent (decreases first)."""

    decision_id: int
    location_uuid: uuid.UUID
    unit: str
    allocations: list[balancing.Allocation]
    down: list[balancing.Allocation]
    up: list[balancing.Allocation]
    # Per transaction: the station's version and transactionId, so each SetChargingProfile
    # is built in the station's version (a location may mix 1.6 and 2.0.1 stations).
    stations: dict[int, Station] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sent:
    """How the sends of a plan ended: outcomes per transaction; increases held back?"""

    outcomes: dict[int, CommandOutcome]
    blocked: bool


async def _in_flight(
    session: AsyncSession, location_uuid: uuid.UUID, now: datetime, lease: float
) -> int | None:
    """The id of a decision of the location still sending within its lease, if any.

    Its age is measured on the service's clock (`computed_at` is that clock's `now`).
    """
    d = BalancingDecision
    return await session.scalar(
        select(d.id)
        .where(
            d.location_uuid == location_uuid,
            d.sent.contains(IN_FLIGHT),
            d.computed_at > now - timedelta(seconds=lease),
        )
        .order_by(d.id.desc())
        .limit(1)
    )


def _entry(a: balancing.Allocation, outcome: str, status: str) -> dict[str, Any]:
    return {
        "transaction_id": a.transaction_id,
        "chargepoint_id": a.chargepoint_id,
        "connectorid": a.connector_id,
        "limit": float(a.limit),
        "outcome": outcome,
        "status": status,
    }


async def decide(
    session: AsyncSession,
    *,
    location_uuid: uuid.UUID,
    trigger: str,
    now: datetime,
    chargepoint_id: str | None = None,
    lease: float,
) -> Decision | Plan | Busy | None:
    """Step 1 (one short transaction, under the location's advisory lock): recompute the
    limits of `location_uuid` and store the decision.

    None: the location is not balanced (no grid limit). `Busy`: another recomputation is
    still sending (its decision is "sending" and younger than `lease` seconds); the caller
    waits and tries again. `Decision`: nothing to send (recorded). `Plan`: limits to send;
    the decision row lists them as "sending" (the claim on the location) until `record`.
    """
    await lock_location(session, location_uuid)
    location = await session.get(Location, location_uuid)
    if (
        location is None
        or location.grid_limit is None
        or location.grid_limit_unit is None
        or location.balancing_strategy is None
    ):
        return None
    claim = await _in_flight(session, location_uuid, now, lease)
    if claim is not None:
        return Busy(claim)
    unit = location.grid_limit_unit
    rows = await _active_rows(session, location_uuid)
    # A 2.0.1 transaction whose EVSE is not known yet (evseId 0 until an event names it)
    # cannot be limited (K01: no TxProfile on evseId 0): left out until it is.
    online = [
        r
        for r in rows
        if r.connected and not (r.ocpp_version == OCPP201 and r.connector_id == UNKNOWN_EVSE)
    ]
    profiles = await _profiles_by_chargepoint(session, {r.chargepoint_id for r in online})
    sessions = [_session_of(r, profiles[r.chargepoint_id], unit, now) for r in online]
    # 2.0.1 stations: external limits (NotifyChargingLimit) and the EV's needs cap sessions.
    # Only 2.0.1 stations report them: a 1.6-only site runs no query for them.
    v201 = {r.transaction_id for r in online if r.ocpp_version == OCPP201}
    caps = await load_caps(
        session,
        [
            SessionKey(s.transaction_id, s.chargepoint_id, s.connector_id, s.phases)
            for s in sessions
            if s.transaction_id in v201
        ],
        now=now,
        unit=unit,
    )
    sessions = [_capped(s, caps.get(s.transaction_id)) for s in sessions]
    allocations = balancing.allocate(
        grid_limit=location.grid_limit,
        unit=unit,
        strategy=location.balancing_strategy,
        sessions=sessions,
    )

    previous = {
        a.transaction_id: a
        for a in await session.scalars(
            select(BalancingAllocation).where(BalancingAllocation.location_uuid == location_uuid)
        )
    }
    active_ids = {r.transaction_id for r in rows}
    gone = [tid for tid in previous if tid not in active_ids]
    if gone:
        await session.execute(
            delete(BalancingAllocation).where(BalancingAllocation.transaction_id.in_(gone))
        )
    # Offline sessions: the share is freed; what the charge point holds is unknown.
    for r in rows:
        prev = previous.get(r.transaction_id)
        if not r.connected and prev is not None and prev.installed_limit is not None:
            prev.installed_limit = None
            prev.status = "Pending"

    down: list[balancing.Allocation] = []
    up: list[balancing.Allocation] = []
    for a in allocations:
        prev = previous.get(a.transaction_id)
        installed = prev.installed_limit if prev is not None else None
        # A known limit marked Pending is to be sent again (NotifyEVChargingNeeds: K15 wants
        # a schedule "momentarily"); the same value cannot raise the sum: with the decreases.
        resend = prev is not None and installed is not None and prev.status == RESEND
        if prev is not None and installed is not None and installed == a.limit and not resend:
            continue
        if installed is not None and a.limit <= installed:
            down.append(a)
        else:
            # Increases, new sessions and sessions whose installed limit is unknown (offline
            # meanwhile, no answer): after the decreases, so the sum of what is known to be
            # installed never passes the grid limit.
            up.append(a)

    for a in allocations:
        # The decided limit; what the charge point holds changes only when it accepts
        # (recorded by `record`).
        prev = previous.get(a.transaction_id)
        stmt = pg_insert(BalancingAllocation).values(
            transaction_id=a.transaction_id,
            location_uuid=location_uuid,
            chargepoint_id=a.chargepoint_id,
            connectorid=a.connector_id,
            limit=a.limit,
            paused=a.paused,
            installed_limit=prev.installed_limit if prev is not None else None,
            status=prev.status if prev is not None else "Pending",
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["transaction_id"],
                set_={
                    "location_uuid": stmt.excluded.location_uuid,
                    "limit": stmt.excluded.limit,
                    "paused": stmt.excluded.paused,
                    "installed_limit": stmt.excluded.installed_limit,
                    "status": stmt.excluded.status,
                    "updated_at": text("now()"),
                },
            )
        )

    held = {tid: prev.status for tid, prev in previous.items()}
    planned = [_entry(a, SENDING, held.get(a.transaction_id, "Pending")) for a in down + up]
    changed = (
        bool(planned)
        or bool(gone)
        or any(
            previous.get(a.transaction_id) is None or previous[a.transaction_id].limit != a.limit
            for a in allocations
        )
    )
    if not changed:
        return Decision(location_uuid, allocations, [], False)
    row = BalancingDecision(
        location_uuid=location_uuid,
        computed_at=now,
        trigger=trigger,
        chargepoint_id=chargepoint_id,
        grid_limit=location.grid_limit,
        unit=unit,
        strategy=location.balancing_strategy,
        allocations=[
            {
                "transaction_id": a.transaction_id,
                "chargepoint_id": a.chargepoint_id,
                "connectorid": a.connector_id,
                "limit": float(a.limit),
                "paused": a.paused,
            }
            for a in allocations
        ],
        sent=planned,
    )
    session.add(row)
    await session.flush()
    if not planned:
        return Decision(location_uuid, allocations, [], True)
    stations = {r.transaction_id: Station(r.ocpp_version, r.remote_transaction_id) for r in online}
    return Plan(row.id, location_uuid, unit, allocations, down, up, stations)


async def record(session: AsyncSession, plan: Plan, sent: Sent) -> Decision:
    """Step 3 (a second short transaction): record how the sends of `plan` ended.

    Keyed by the decision: a decision already recorded (a redelivery, a retry) is left as
    it is. Accepted -> `installed_limit` = the limit, Installed; refused -> Rejected (the
    charge point keeps what it had); offline / no answer -> unknown (NULL), Pending.
    """
    await lock_location(session, plan.location_uuid)
    row = await session.get(BalancingDecision, plan.decision_id)
    if row is None or not any(e.get("outcome") == SENDING for e in row.sent):
        return Decision(plan.location_uuid, plan.allocations, row.sent if row else [], True)
    entries: list[dict[str, Any]] = []
    status_before = {e["transaction_id"]: e["status"] for e in row.sent}
    for a in plan.down + plan.up:
        outcome = sent.outcomes.get(a.transaction_id)
        if outcome is None:  # an increase held back: the decrease before it was refused
            entries.append(_entry(a, "deferred", status_before[a.transaction_id]))
            continue
        values: dict[str, Any]
        if accepted(outcome):
            values = {"installed_limit": a.limit, "status": "Installed"}
        elif isinstance(outcome, Result):
            values = {"status": "Rejected"}
        else:
            values = {"installed_limit": None, "status": "Pending"}
        await session.execute(
            update(BalancingAllocation)
            .where(BalancingAllocation.transaction_id == a.transaction_id)
            .values(**values, updated_at=text("now()"))
        )
        entries.append(_entry(a, outcome_label(outcome), values["status"]))
    row.sent = entries
    await session.flush()
    await stage(session, limit_events(plan, sent))
    return Decision(plan.location_uuid, plan.allocations, entries, True)


def limit_events(plan: Plan, sent: Sent) -> list[PublicEvent]:
    """`charging.limit_changed` of every limit a charge point accepted in this decision."""
    return [
        PublicEvent(
            "charging.limit_changed",
            {
                "location_id": str(plan.location_uuid),
                "transaction_id": a.transaction_id,
                "connector_id": a.connector_id,
                "limit": float(a.limit),
                "unit": plan.unit,
                "paused": a.paused,
                "decision_id": plan.decision_id,
            },
            a.chargepoint_id,
        )
        for a in plan.down + plan.up
        if (outcome := sent.outcomes.get(a.transaction_id)) is not None and accepted(outcome)
    ]
