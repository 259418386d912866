"""The event outbox: public events written in the transaction of their change, relayed after.

1. A writer (a service's batch, the API) calls `stage` in the transaction that makes the
   change: the events get their charge point's next `seq` numbers (`event_sequence`, taken
   like `command_sequence` in shared/command_outbox.py: row-locked until commit, so one
   charge point's events commit in `seq` order) and are inserted into `event_outbox`. A
   rolled back change leaves no event; a committed one exactly one.
2. The `OutboxRelay` (run by the webhooks service) publishes committed, unpublished rows to
   `csms.events` (`public.v1.<type>`, publisher confirms) in `position` order and marks them
   published; it also deletes rows older than the retention window. A relay that dies between
   the publish and the mark publishes the row again: consumers de-duplicate on the event id.
3. The stream (`GET /api/v1/events/stream`) reads the table itself (shared/events/store.py).

Throttled types (transaction.updated, meter_values) keep their last write time per key in
`event_throttle` (and in memory, to skip the look-up while the interval runs). They report
meter readings, which are stored idempotently (`meter_value` is unique on the readings'
content key, services/transactions/tables.reading_key): a reading resent by its charge point
is not stored again, and its event is not written again either (`PublicEvent.reading_key`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from shared.bus.errors import BusError
from shared.bus.topology import EVENTS
from shared.db.models import ChargePoint, EventOutbox, EventSequence, EventThrottle, Transaction
from shared.db.sequences import take_seqs
from shared.envelope import Envelope, Kind, utcnow
from shared.events.catalogue import CATALOGUE, EVENT_VERSION, routing_key
from shared.metrics import EVENTS_RELAYED
from shared.txevents import wh_number

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.settings import Settings

log = logging.getLogger(__name__)

OUTBOX: Table = EventOutbox.__table__  # type: ignore[assignment]
SEQUENCE: Table = EventSequence.__table__  # type: ignore[assignment]
THROTTLE: Table = EventThrottle.__table__  # type: ignore[assignment]
CHARGEPOINT: Table = ChargePoint.__table__  # type: ignore[assignment]
TRANSACTION: Table = Transaction.__table__  # type: ignore[assignment]

RELAY_LOCK: Final = 0x637373_6576_74
"""Key of the transaction-level advisory lock a relay round holds."""
SYSTEM_KEY: Final = ""
"""The `event_sequence` key of events without a charge point."""


@dataclass(frozen=True)
class PublicEvent:
    """A public event before it is written: type, data, whose, and how to throttle it."""

    type: str
    data: dict[str, Any]
    chargepoint_id: str | None = None
    id_tag: str | None = None
    """The id tag the event concerns (transactions, reservations): drivers see only theirs."""
    throttle_key: str | None = None
    """Set for throttled types: at most one event per key per the type's interval."""
    reading_key: str | None = None
    """Set for events about meter readings: the `meter_value.message_id` of the readings.
    Written only if this transaction stored them (`_only_new_readings`): a resent
    MeterValues or a retried TransactionEvent stores nothing and gets no second event."""


def throttle_interval(event_type: str, settings: Settings) -> float:
    """Seconds between two events of one throttle key."""
    if event_type == "meter_values":
        return settings.events_meter_values_interval
    return settings.events_update_interval


@dataclass
class Throttle:
    """The in-process memory of throttled keys' last write (the table decides)."""

    last: dict[str, float] = field(default_factory=dict)
    max_keys: int = 100_000

    def maybe_due(self, key: str, interval: float, now: float) -> bool:
        seen = self.last.get(key)
        return seen is None or now - seen >= interval

    def written(self, key: str, now: float) -> None:
        if len(self.last) >= self.max_keys:
            self.last.clear()
        self.last[key] = now


THROTTLE_MEMORY: Final = Throttle()

NEW_READINGS = text(
    """
    SELECT DISTINCT message_id FROM meter_value
    WHERE message_id = ANY(CAST(:keys AS text[])) AND xmin = pg_current_xact_id()::xid
    """
)
"""The reading keys whose rows this transaction inserted: a row's `xmin` is the id of the
transaction that wrote it (meter_value rows are never updated, and the batch's rows are
inserted outside any savepoint); one that was there already (ON CONFLICT DO NOTHING) has an
older one. Read through the unique (message_id, seq) index."""


def _due(ev: PublicEvent, settings: Settings | None, clock: float) -> bool:
    """Whether the in-process throttle memory lets `ev` through (unthrottled ones: yes)."""
    if settings is None or ev.throttle_key is None:
        return True
    key = f"{ev.type}:{ev.throttle_key}"
    return THROTTLE_MEMORY.maybe_due(key, throttle_interval(ev.type, settings), clock)


async def _only_new_readings(
    session: AsyncSession, events: Sequence[PublicEvent], settings: Settings | None, clock: float
) -> list[PublicEvent]:
    """`events` without those about readings this transaction did not store (a resend, a
    retry, a redelivery: stored before), and with one event per type and stored reading.
    Called after the batch's rows are written; one look-up, only when such an event would
    pass the throttle memory (the others are dropped by the throttle anyway)."""
    keys = sorted({ev.reading_key for ev in events if ev.reading_key and _due(ev, settings, clock)})
    if not keys:
        return [ev for ev in events if ev.reading_key is None]
    fresh = set((await session.execute(NEW_READINGS, {"keys": keys})).scalars())
    seen: set[tuple[str, str]] = set()
    out: list[PublicEvent] = []
    for ev in events:
        if ev.reading_key is not None:
            if ev.reading_key not in fresh or (ev.type, ev.reading_key) in seen:
                continue
            seen.add((ev.type, ev.reading_key))
        out.append(ev)
    return out


async def _pass_throttle(
    session: AsyncSession,
    events: Sequence[PublicEvent],
    settings: Settings,
    now: datetime,
    clock: float,
) -> list[PublicEvent]:
    """The events to write: unthrottled ones, and per due throttle key its last event."""
    latest: dict[str, PublicEvent] = {}
    kept: list[PublicEvent | str] = []
    for ev in events:
        if ev.throttle_key is None:
            kept.append(ev)
            continue
        key = f"{ev.type}:{ev.throttle_key}"
        if not THROTTLE_MEMORY.maybe_due(key, throttle_interval(ev.type, settings), clock):
            continue
        if key not in latest:
            kept.append(key)
        latest[key] = ev
    if not latest:
        return [ev for ev in kept if isinstance(ev, PublicEvent)]
    due: set[str] = set()
    for key in sorted(latest):  # one lock order for every writer
        interval = timedelta(seconds=throttle_interval(latest[key].type, settings))
        stmt = pg_insert(THROTTLE).values(key=key, last_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"last_at": stmt.excluded.last_at},
            where=THROTTLE.c.last_at <= now - interval,
        )
        if (await session.execute(stmt.returning(THROTTLE.c.key))).first() is not None:
            due.add(key)
        THROTTLE_MEMORY.written(key, clock)
    return [
        ev if isinstance(ev, PublicEvent) else latest[ev]
        for ev in kept
        if isinstance(ev, PublicEvent) or ev in due
    ]


async def _enrich(session: AsyncSession, events: Sequence[PublicEvent]) -> list[PublicEvent]:
    """Fill in what the internal events do not carry: transaction.updated's energy so far,
    transaction.ended's duration (one look-up of the transactions concerned)."""
    wanted = {
        int(ev.data["transaction_id"])
        for ev in events
        if ev.type in ("transaction.updated", "transaction.ended")
        and isinstance(ev.data.get("transaction_id"), int)
    }
    if not wanted:
        return list(events)
    rows = await session.execute(
        select(
            TRANSACTION.c.transaction_id,
            TRANSACTION.c.wh_meter_start,
            TRANSACTION.c.start_transaction_timestamp,
            TRANSACTION.c.id_tag,
        ).where(TRANSACTION.c.transaction_id.in_(sorted(wanted)))
    )
    found = {r.transaction_id: r for r in rows}
    out: list[PublicEvent] = []
    for ev in events:
        tx = (
            found.get(ev.data.get("transaction_id")) if ev.type.startswith("transaction.") else None
        )
        if tx is None:
            out.append(ev)
            continue
        data = dict(ev.data)
        if ev.type == "transaction.updated" and data.get("meter_wh") is not None:
            data["energy_wh"] = wh_number(Decimal(str(data["meter_wh"])) - tx.wh_meter_start)
        if ev.type == "transaction.ended" and data.get("ended_at"):
            with contextlib.suppress(ValueError):
                ended = datetime.fromisoformat(str(data["ended_at"]).replace("Z", "+00:00"))
                data["duration_s"] = (ended - tx.start_transaction_timestamp).total_seconds()
        out.append(replace(ev, data=data, id_tag=ev.id_tag or tx.id_tag))
    return out


async def stage(
    session: AsyncSession,
    events: Sequence[PublicEvent],
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Write `events` into the outbox in the caller's transaction; the rows written.

    Call it last in the transaction (it takes the event_sequence rows, which stay locked
    until commit: taking them late keeps that short and every writer's lock order the same).
    """
    if not events:
        return []
    at = now or utcnow()
    clock = time.monotonic()
    if any(ev.reading_key is not None for ev in events):
        events = await _only_new_readings(session, events, settings, clock)
    if settings is not None:
        events = await _pass_throttle(session, events, settings, at, clock)
    if not events:
        return []
    events = await _enrich(session, events)
    ids = sorted({ev.chargepoint_id for ev in events if ev.chargepoint_id})
    locations: dict[str, uuid.UUID | None] = {}
    if ids:
        rows = await session.execute(
            select(CHARGEPOINT.c.chargepoint_id, CHARGEPOINT.c.location_uuid).where(
                CHARGEPOINT.c.chargepoint_id.in_(ids)
            )
        )
        locations = {r.chargepoint_id: r.location_uuid for r in rows}
    counts: dict[str, int] = {}
    for ev in events:
        key = ev.chargepoint_id or SYSTEM_KEY
        counts[key] = counts.get(key, 0) + 1
    last = await take_seqs(session, SEQUENCE, counts)
    next_of = {key: last[key] - counts[key] + 1 for key in counts}
    written: list[dict[str, Any]] = []
    for ev in events:
        key = ev.chargepoint_id or SYSTEM_KEY
        seq = next_of[key]
        next_of[key] = seq + 1
        written.append(
            {
                "id": uuid.uuid4(),
                "type": ev.type,
                "chargepoint_id": ev.chargepoint_id,
                "location_id": locations.get(ev.chargepoint_id) if ev.chargepoint_id else None,
                "id_tag": ev.id_tag,
                "seq": seq,
                "occurred_at": at,
                "data": ev.data,
            }
        )
    await session.execute(pg_insert(OUTBOX), written)
    return written


def public_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The event as third parties get it (the envelope of shared/events/catalogue.py)."""
    location = row.get("location_id")
    occurred: datetime = row["occurred_at"]
    return {
        "id": str(row["id"]),
        "type": row["type"],
        "version": EVENT_VERSION,
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "chargepoint_id": row.get("chargepoint_id"),
        "location_id": str(location) if location is not None else None,
        "seq": row["seq"],
        "data": row["data"],
    }


def bus_envelope(row: Mapping[str, Any]) -> Envelope:
    """The `csms.events` message of an outbox row (the payload is the public event)."""
    return Envelope(
        kind=Kind.EVENT,
        action=routing_key(str(row["type"])),
        chargepoint_id=row.get("chargepoint_id"),
        unique_id=str(row["id"]),
        correlation_id=str(row["id"]),
        payload=public_json(row),
    )


class RelayPublisher(Protocol):
    """What the relay needs of `shared.bus.Bus`: confirmed publishes, one or several
    envelopes per message (consumers unpack batch messages, shared/bus/batch.py)."""

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = ...
    ) -> None: ...

    async def publish_batch(
        self,
        exchange: str,
        routing_key: str,
        envelopes: Sequence[Envelope],
        *,
        mandatory: bool = ...,
    ) -> None: ...


def runs_by_key(rows: Sequence[Any]) -> list[tuple[str, list[Envelope]]]:
    """Rows in order as runs of one routing key: (key, their envelopes)."""
    runs: list[tuple[str, list[Envelope]]] = []
    for row in rows:
        key = routing_key(row.type)
        envelope = bus_envelope(dict(row._mapping))
        if runs and runs[-1][0] == key:
            runs[-1][1].append(envelope)
        else:
            runs.append((key, [envelope]))
    return runs


@dataclass
class OutboxRelay:
    """Publishes committed outbox rows to `csms.events`, oldest first; prunes old rows.

    A round's rows leave as one message per run of one type (a storm writes thousands of
    events a second; one confirmed publish each relayed ~110 a second on a loaded 2-core
    machine), in `position` order.

    Several relays may run (webhooks replicas): a round holds an advisory lock, so one relays
    at a time and the broker gets the events in `position` order.
    """

    sessionmaker: async_sessionmaker[AsyncSession]
    publisher: RelayPublisher
    interval: float = 0.25
    retention: timedelta = timedelta(hours=72)
    batch: int = 500
    prune_every: float = 60.0
    _pruned_at: float = -1e9

    async def run(self, stopping: asyncio.Event) -> None:
        """Relay until `stopping` is set (at once again when a round was full)."""
        while not stopping.is_set():
            relayed = 0
            try:
                relayed = await self.relay_once()
                await self.maybe_prune()
            except (SQLAlchemyError, OSError, BusError) as exc:  # database or broker away
                log.warning("event relay round failed: %r", exc)
            if relayed >= self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows and mark them; how many."""
        c = OUTBOX.c
        async with self.sessionmaker() as session, session.begin():
            # One relay at a time (replicas take turns): events reach the broker in one
            # order, so one charge point's events never overtake each other there.
            if not (
                await session.execute(select(func.pg_try_advisory_xact_lock(RELAY_LOCK)))
            ).scalar():
                return 0
            rows = (
                await session.execute(
                    select(OUTBOX)
                    .where(c.published_at.is_(None))
                    .order_by(c.position)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # In order: one charge point's events keep their seq order.
            for key, envelopes in runs_by_key(rows):
                if len(envelopes) == 1:
                    await self.publisher.publish(EVENTS, key, envelopes[0])
                else:
                    await self.publisher.publish_batch(EVENTS, key, envelopes)
            for row in rows:
                EVENTS_RELAYED.labels(row.type).inc()
            await session.execute(
                update(OUTBOX)
                .where(c.position.in_([r.position for r in rows]))
                .values(published_at=func.now())
            )
        return len(rows)

    async def maybe_prune(self) -> int:
        """Delete published rows older than the retention window (batches); how many."""
        now = time.monotonic()
        if now - self._pruned_at < self.prune_every:
            return 0
        self._pruned_at = now
        c = OUTBOX.c
        total = 0
        while True:
            async with self.sessionmaker() as session, session.begin():
                old = (
                    select(c.position)
                    .where(c.created_at < func.now() - self.retention)
                    .order_by(c.created_at)
                    .limit(5000)
                    .scalar_subquery()
                )
                result = await session.execute(delete(OUTBOX).where(c.position.in_(old)))
            deleted = int(getattr(result, "rowcount", 0) or 0)
            total += deleted
            if deleted < 5000:
                return total


def known(event_type: str) -> bool:
    """Whether `event_type` is in the catalogue."""
    return event_type in CATALOGUE
