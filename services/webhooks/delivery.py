"""Delivering webhook rows: signed POSTs, retries with back-off, ordering, auto-disable.

Every round the deliverer takes due `pending` deliveries that head their lane (no earlier
pending delivery of the same endpoint and charge point), leases them (`lease_until`, so
another replica or a restarted process does not send them at the same time) and sends each
in a task of its own: a slow endpoint holds its own slots (`CSMS_WEBHOOKS_ENDPOINT_CONCURRENCY`)
and nobody else's. The result is written back:

- 2xx: `delivered`; the endpoint's failure streak is reset;
- anything else (other status, redirect, timeout, connection error, refused target): the next
  attempt after `retry_base * 2^(attempts-1)` (at most `retry_max_delay`), or `dead` once the
  delivery is older than the retry window; the endpoint's streak grows, and at
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
from sqlalchemy import Table, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from services.webhooks import signing
from services.webhooks.ssrf import TargetRefused, check_target
from shared.db.models import WebhookDelivery, WebhookEndpoint
from shared.envelope import utcnow
from shared.events.outbox import PublicEvent, stage
from shared.metrics import WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_SECONDS
from shared.settings import Settings

log = logging.getLogger(__name__)

ENDPOINT: Table = WebhookEndpoint.__table__  # type: ignore[assignment]
DELIVERY: Table = WebhookDelivery.__table__  # type: ignore[assignment]

LEASE_MARGIN: Final = 5.0
"""A lease lasts twice the delivery timeout and this many seconds: a process that died
mid-delivery holds its rows that long."""
ROUND: Final = 200
"""Due deliveries looked at per round."""
USER_AGENT: Final = "csms-webhooks/1"
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
                started = await self.start_due()
                if time.monotonic() - pruned_at >= PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    await self.prune()
            except Exception as exc:  # the database away: next round
                log.warning("webhook delivery round failed: %r", exc)
            if started >= ROUND:
                await asyncio.sleep(0)
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.poll)
        await self.close()

    async def prune(self) -> int:
        """Delete delivered and dead deliveries older than the event retention; how many."""
        d = DELIVERY.c
        keep = timedelta(hours=self.settings.events_retention_hours)
        total = 0
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
                        d.body,
                        d.attempts,
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
            await self.record(row, outcome)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", row.id)
        finally:
            left = self._inflight.get(row.endpoint_id, 1) - 1
            if left <= 0:
                self._inflight.pop(row.endpoint_id, None)
            else:
                self._inflight[row.endpoint_id] = left
            self.wake.set()  # a slot is free; the lane's next delivery may be due

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

    async def record(self, row: Any, outcome: Outcome) -> None:
        """Write an attempt's outcome; retry, dead-letter or disable as due."""
        d = DELIVERY.c
        now = utcnow()
        attempts = int(row.attempts) + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": outcome.status_code,
            "last_latency_ms": outcome.latency_ms,
            "last_error": outcome.error,
            "last_attempt_at": now,
            "lease_until": None,
        }
        window = timedelta(hours=self.settings.webhooks_retry_window_hours)
        if outcome.ok:
            values.update(status="delivered", delivered_at=now)
            result = "delivered"
        elif now - _aware(row.created_at) >= window:
            values.update(status="dead")
            result = "dead"
        else:
            delay = backoff(
                attempts, self.settings.webhooks_retry_base, self.settings.webhooks_retry_max_delay
            )
            values.update(next_attempt_at=now + timedelta(seconds=delay))
            result = "failed"
        WEBHOOK_DELIVERIES.labels(result).inc()
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(DELIVERY).where(d.id == row.id).values(**values))
            if outcome.ok:
                await session.execute(
                    update(ENDPOINT)
                    .where(ENDPOINT.c.id == row.endpoint_id, ENDPOINT.c.failure_streak != 0)
                    .values(failure_streak=0)
                )
                return
            await self.count_failure(session, row.endpoint_id, now)
        if result == "dead":
            log.warning(
                "webhook delivery %s dead after %d attempts: %s", row.id, attempts, outcome.error
            )

    async def count_failure(
        self, session: AsyncSession, endpoint_id: uuid.UUID, now: datetime
    ) -> None:
        """Grow the endpoint's failure streak; disable it (with its event) at the limit."""
        e = ENDPOINT.c
        found = (
            await session.execute(
                update(ENDPOINT)
                .where(e.id == endpoint_id)
                .values(failure_streak=e.failure_streak + 1)
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


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
