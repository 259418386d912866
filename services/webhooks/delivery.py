"""Delivering webhook rows: signed POSTs, retries with back-off, ordering, auto-disable.

Every round the deliverer takes due `pending` deliveries that head their lane (no earlier
pending delivery of the same endpoint and charge point), leases them (`lease_until`, so
another replica or a restarted process does not send them at the same time) and sends each
in a task of its own: a slow endpoint holds its own slots (`CSMS_WEBHOOKS_ENDPOINT_CONCURRENCY`)
and nobody else's. The result is written back:

- 2xx: `delivered`; the endpoint's failure streak is reset;
- anything else (other status, redirect, timeout, connection error, refused target): the next
  attempt after `retry_base * 2^(attempts-1)` (at most `retry_max_delay`), or `dead` once the
  delivery is older than the retry window, and then also put in the endpoint's dead-letter
  queue (`webhook_dead_letter`, same transaction; listed and replayed through the API,
  services/api/webhooks); the endpoint's streak grows, and at
  `CSMS_WEBHOOKS_DISABLE_AFTER` the endpoint is disabled with a `webhook.disabled` event.

A process killed mid-delivery leaves a leased row: it is sent again when the lease ends
(at-least-once; receivers de-duplicate on `X-CSMS-Event-Id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import orjson
from sqlalchemy import Table, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from services.webhooks import signing
from shared.db.models import WebhookDeadLetter, WebhookDelivery, WebhookEndpoint
from shared.envelope import utcnow
from shared.events.outbox import PublicEvent, stage
from shared.metrics import WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_SECONDS
from shared.settings import Settings
from shared.ssrf import TargetRefused, check_target

log = logging.getLogger(__name__)

ENDPOINT: Table = WebhookEndpoint.__table__  # type: ignore[assignment]
DELIVERY: Table = WebhookDelivery.__table__  # type: ignore[assignment]
DEAD_LETTER: Table = WebhookDeadLetter.__table__  # type: ignore[assignment]

LEASE_MARGIN: Final = 5.0
"""A lease lasts twice the delivery timeout and this many seconds: a process that died
mid-delivery holds its rows that long."""
ROUND: Final = 200
"""Due deliveries looked at per round."""
USER_AGENT: Final = "csms-webhooks/1"
GATHER: Final = 0.02
"""Seconds the deliverer waits after a wake-up before it looks for due deliveries."""
PRUNE_EVERY: Final = 300.0
"""Seconds between two deletions of old delivery log rows (kept CSMS_EVENTS_RETENTION_HOURS)."""


def backoff(attempts: int, base: float, most: float) -> float:
    """Seconds before attempt `attempts + 1` after `attempts` failed ones."""
    return float(min(most, base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Outcome:
    """How one attempt went."""

    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass
class Deliverer:
    """Sends due deliveries until stopped (one per webhooks process)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    poll: float = 0.5
    client: httpx.AsyncClient | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _inflight: dict[uuid.UUID, int] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _done: list[tuple[Any, Outcome]] = field(default_factory=list)

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            self.client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.settings.webhooks_timeout),
                headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return self.client

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until `stopping` is set; then wait for the deliveries in flight."""
        pruned_at = -PRUNE_EVERY
        while not stopping.is_set():
            started = 0
            try:
                await self.record_done()
                started = await self.start_due()
                if time.monotonic() - pruned_at >= PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    await self.prune()
            except (SQLAlchemyError, OSError) as exc:  # the database away: next round
                log.warning("webhook delivery round failed: %r", exc)
            if started >= ROUND:
                await asyncio.sleep(0)
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.poll)
            # Woken by a finished delivery: let the others finishing now come too, so one
            # look for due deliveries serves many.
            await asyncio.sleep(GATHER)
        await self.close()

    async def prune(self) -> int:
        """Delete delivered and dead deliveries older than the event retention, and dead
        letters replayed that long ago or waiting longer than their own retention; how many."""
        q = DEAD_LETTER.c
        keep = timedelta(hours=self.settings.events_retention_hours)
        waiting = timedelta(days=self.settings.webhooks_dead_letter_retention_days)
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(
                delete(DEAD_LETTER).where(
                    (q.replayed_at < func.now() - keep)
                    | (q.replayed_at.is_(None) & (q.dead_at < func.now() - waiting))
                )
            )
        d = DELIVERY.c
        total = int(getattr(result, "rowcount", 0) or 0)
        while True:
            async with self.sessionmaker() as session, session.begin():
                old = (
                    select(d.id)
                    .where(d.status != "pending", d.created_at < func.now() - keep)
                    .limit(5000)
                    .scalar_subquery()
                )
                result = await session.execute(delete(DELIVERY).where(d.id.in_(old)))
            deleted = int(getattr(result, "rowcount", 0) or 0)
            total += deleted
            if deleted < 5000:
                return total

    async def close(self) -> None:
        """Let the deliveries in flight finish (their timeout bounds it); close the client."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # else their leases end and they go again
            await self.record_done()
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def start_due(self) -> int:
        """Lease the due lane heads that have a free slot and start sending them; how many."""
        d = DELIVERY.c
        earlier = aliased(DELIVERY)
        capacity = self.settings.webhooks_endpoint_concurrency
        lease = timedelta(seconds=2 * self.settings.webhooks_timeout + LEASE_MARGIN)
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(
                        d.id,
                        d.endpoint_id,
                        d.event_id,
                        d.event_type,
                        d.lane,
                        d.seq,
                        d.body,
                        d.attempts,
                        d.next_attempt_at,
                        d.created_at,
                        ENDPOINT.c.url,
                        ENDPOINT.c.secret,
                    )
                    .join(ENDPOINT, ENDPOINT.c.id == d.endpoint_id)
                    .where(
                        d.status == "pending",
                        d.next_attempt_at <= func.now(),
                        (d.lease_until.is_(None)) | (d.lease_until < func.now()),
                        ENDPOINT.c.active.is_(True),
                        ~exists().where(
                            and_(
                                earlier.c.endpoint_id == d.endpoint_id,
                                earlier.c.lane == d.lane,
                                earlier.c.status == "pending",
                                earlier.c.seq < d.seq,
                            )
                        ),
                    )
                    .order_by(d.next_attempt_at, d.seq)
                    .limit(ROUND)
                    .with_for_update(of=DELIVERY, skip_locked=True)
                )
            ).all()
            picked = []
            taken: dict[uuid.UUID, int] = {}
            for row in rows:
                used = self._inflight.get(row.endpoint_id, 0) + taken.get(row.endpoint_id, 0)
                if used >= capacity:
                    continue
                taken[row.endpoint_id] = taken.get(row.endpoint_id, 0) + 1
                picked.append(row)
            if not picked:
                return 0
            await session.execute(
                update(DELIVERY)
                .where(d.id.in_([r.id for r in picked]))
                .values(lease_until=func.now() + lease)
            )
        for row in picked:
            self._inflight[row.endpoint_id] = self._inflight.get(row.endpoint_id, 0) + 1
            task = asyncio.create_task(self._deliver(row), name=f"webhook-{row.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(picked)

    async def _deliver(self, row: Any) -> None:
        try:
            outcome = await self.send(
                row.url, row.secret, row.id, row.event_id, row.event_type, row.body
            )
        except Exception as exc:  # a delivery task records an outcome, whatever happens
            log.exception("webhook delivery %s failed unexpectedly", row.id)
            outcome = Outcome(False, None, 0.0, f"internal error: {exc!r}"[:500])
        # Recorded by the loop, many at a time; the slot stays taken until then (the lane's
        # next delivery must not start before this one is recorded).
        self._done.append((row, outcome))
        self.wake.set()

    def _release(self, endpoint_id: uuid.UUID) -> None:
        left = self._inflight.get(endpoint_id, 1) - 1
        if left <= 0:
            self._inflight.pop(endpoint_id, None)
        else:
            self._inflight[endpoint_id] = left

    async def send(
        self,
        url: str,
        secret: str,
        delivery_id: uuid.UUID,
        event_id: uuid.UUID,
        event_type: str,
        body: dict[str, Any],
    ) -> Outcome:
        """POST one signed event; how it went."""
        payload = orjson.dumps(body)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.SIGNATURE_HEADER: signing.signature(secret, timestamp, payload),
            signing.EVENT_ID_HEADER: str(event_id),
            signing.EVENT_TYPE_HEADER: event_type,
            signing.DELIVERY_ID_HEADER: str(delivery_id),
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            await check_target(url, allow_private=self.settings.webhooks_allow_private_targets)
            response = await self._client().post(url, content=payload, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}" + (
                    " (redirects are not followed)" if 300 <= status < 400 else ""
                )
        except TargetRefused as exc:
            error = f"refused: {exc}"
        except httpx.TimeoutException:
            error = f"timeout after {self.settings.webhooks_timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        elapsed = time.perf_counter() - started
        WEBHOOK_DELIVERY_SECONDS.observe(elapsed)
        return Outcome(error is None, status, round(elapsed * 1000, 3), error)

    async def record_done(self) -> int:
        """Write the outcomes of the finished deliveries (one transaction); how many."""
        done, self._done = self._done, []
        if not done:
            return 0
        try:
            await self.record(done)
        except BaseException:
            self._done[:0] = done  # the database away: recorded next round (leases hold)
            raise
        for row, _ in done:
            self._release(row.endpoint_id)
        return len(done)

    async def record(self, done: list[tuple[Any, Outcome]]) -> None:
        """Write attempts' outcomes: delivered, a retry after the back-off, or dead; the
        endpoints' failure streaks (disabling at the limit)."""
        d = DELIVERY.c
        now = utcnow()
        window = timedelta(hours=self.settings.webhooks_retry_window_hours)
        rows: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        streaks: dict[uuid.UUID, tuple[bool, int]] = {}
        for row, outcome in done:
            attempts = int(row.attempts) + 1
            status, next_at, delivered_at = "pending", row.next_attempt_at, None
            if outcome.ok:
                status, delivered_at = "delivered", now
            elif now - _aware(row.created_at) >= window:
                status = "dead"
                dead.append(dead_letter(row, outcome, attempts, now))
                log.warning(
                    "webhook delivery %s dead after %d attempts: %s",
                    row.id,
                    attempts,
                    outcome.error,
                )
            else:
                delay = backoff(
                    attempts,
                    self.settings.webhooks_retry_base,
                    self.settings.webhooks_retry_max_delay,
                )
                next_at = now + timedelta(seconds=delay)
            WEBHOOK_DELIVERIES.labels(
                "delivered" if outcome.ok else ("dead" if status == "dead" else "failed")
            ).inc()
            rows.append(
                {
                    "_id": row.id,
                    "status": status,
                    "attempts": attempts,
                    "next_attempt_at": next_at,
                    "delivered_at": delivered_at,
                    "last_status_code": outcome.status_code,
                    "last_latency_ms": outcome.latency_ms,
                    "last_error": outcome.error,
                    "last_attempt_at": now,
                    "lease_until": None,
                }
            )
            # In finishing order: a success resets the streak, each failure adds one.
            reset, failures = streaks.get(row.endpoint_id, (False, 0))
            streaks[row.endpoint_id] = (True, 0) if outcome.ok else (reset, failures + 1)
        columns = [k for k in rows[0] if k != "_id"]
        values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in columns}
        params = [{"_id": r["_id"], **{f"v_{k}": r[k] for k in columns}} for r in rows]
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(DELIVERY).where(d.id == bindparam("_id")).values(**values),
                params,
                execution_options={"synchronize_session": False},
            )
            await queue_dead_letters(session, dead)
            for endpoint_id in sorted(streaks):
                reset, failures = streaks[endpoint_id]
                await self.count_failures(session, endpoint_id, reset, failures, now)

    async def count_failures(
        self,
        session: AsyncSession,
        endpoint_id: uuid.UUID,
        reset: bool,
        failures: int,
        now: datetime,
    ) -> None:
        """Set the endpoint's failure streak (reset by a success, then `failures` more);
        disable it (with its event) at the limit."""
        e = ENDPOINT.c
        streak = failures if reset else e.failure_streak + failures
        if reset and failures == 0:
            await session.execute(
                update(ENDPOINT)
                .where(e.id == endpoint_id, e.failure_streak != 0)
                .values(failure_streak=0)
            )
            return
        found = (
            await session.execute(
                update(ENDPOINT)
                .where(e.id == endpoint_id)
                .values(failure_streak=streak)
                .returning(e.failure_streak, e.active, e.url)
            )
        ).first()
        if found is None or not found.active:
            return
        limit = self.settings.webhooks_disable_after
        if found.failure_streak < limit:
            return
        reason = f"{found.failure_streak} failed deliveries in a row"
        await session.execute(
            update(ENDPOINT)
            .where(e.id == endpoint_id)
            .values(active=False, disabled_at=now, disabled_reason=reason)
        )
        await stage(
            session,
            [
                PublicEvent(
                    "webhook.disabled",
                    {
                        "webhook_id": str(endpoint_id),
                        "url": found.url,
                        "failure_streak": found.failure_streak,
                        "reason": reason,
                    },
                )
            ],
        )
        log.warning("webhook %s (%s) disabled: %s", endpoint_id, found.url, reason)


def dead_letter(row: Any, outcome: Outcome, attempts: int, now: datetime) -> dict[str, Any]:
    """The dead-letter row of a delivery whose last attempt failed after its retry window."""
    return {
        "endpoint_id": row.endpoint_id,
        "delivery_id": row.id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "lane": row.lane,
        "seq": row.seq,
        "body": row.body,
        "attempts": attempts,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "dead_at": now,
    }


async def queue_dead_letters(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Put dead deliveries in their endpoints' dead-letter queues, in the transaction that
    marks them dead; an event replayed before and dead again waits again (one row)."""
    if not rows:
        return
    # An endpoint deleted meanwhile takes its deliveries with it (no row to queue); the
    # others are held (FOR KEY SHARE) until the rows are in.
    alive = set(
        (
            await session.execute(
                select(ENDPOINT.c.id)
                .where(ENDPOINT.c.id.in_({r["endpoint_id"] for r in rows}))
                .order_by(ENDPOINT.c.id)
                .with_for_update(key_share=True, read=True)
            )
        ).scalars()
    )
    rows = [r for r in rows if r["endpoint_id"] in alive]
    if not rows:
        return
    stmt = pg_insert(DEAD_LETTER)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["endpoint_id", "event_id"],
            set_={
                "delivery_id": stmt.excluded.delivery_id,
                "body": stmt.excluded.body,
                "attempts": stmt.excluded.attempts,
                "last_status_code": stmt.excluded.last_status_code,
                "last_error": stmt.excluded.last_error,
                "dead_at": stmt.excluded.dead_at,
                "replayed_at": None,
            },
        ),
        rows,
    )


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
