"""Batch dispatch for the consumer services: route envelopes to handlers in one DB transaction.

A batch of deliveries (what the consumer had prefetched) is handled in ONE database
transaction: each handler runs in turn on the shared session, bulk rows (meter values,
message-log rows, ...) are collected in a `UnitOfWork` and written with one executemany per
table at the end, the transaction commits, domain events are published, and only then does
the bus publish the replies and ack the messages (shared/bus). A failing handler fails the
batch; the bus then retries the messages one at a time, so a poison message is isolated.

Failures by kind: the database unavailable or busy (connection lost, deadlock, serialization)
-> `Retry` (the batch is held and run again, no delivery spent); Postgres refusing the data
(SQLSTATE class 22) -> `Reject(reason="data-error")` (the same message would fail every time:
the culprit is found by splitting the batch and dead-lettered at once); anything else is
raised as it is (requeued up to the delivery limit).

A router may lock, in one global order, the rows its batch will write before any handler
runs (`Router(before_batch=...)`): handlers of a batch take row locks in delivery order,
and two batches taking the same rows in opposite orders deadlock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from shared.bus.deadletter import DATA_ERROR
from shared.bus.errors import Reject, Retry
from shared.db.session import is_transient_db_error
from shared.envelope import Envelope, Kind, event, utcnow
from shared.events.staging import stage_public_events
from shared.logging import chargepoint_id_var, correlation_id_var, unique_id_var
from shared.metrics import HANDLER_SECONDS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.settings import Settings

log = logging.getLogger(__name__)

Payload = dict[str, Any]


class OcppError(Exception):
    """A handler's refusal, answered to the charge point as a CALLERROR with this code.

    The batch's transaction still commits: raise it before the handler writes anything
    (parse first, as `payload_errors` does), so a refused message leaves no partial rows.
    """

    def __init__(self, code: str, description: str = "", details: Payload | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class DeliveryLike(Protocol):
    """What the dispatcher needs of a bus delivery."""

    @property
    def envelope(self) -> Envelope: ...

    @property
    def routing_key(self) -> str: ...


class EventPublisher(Protocol):
    """Publishes a domain event to `csms.events` (the Bus, or a fake in unit tests)."""

    async def publish_event(self, envelope: Envelope) -> None: ...


@dataclass
class UnitOfWork:
    """Rows to insert in bulk at the end of the batch (ON CONFLICT DO NOTHING: idempotent)."""

    rows: dict[Table, list[Payload]] = field(default_factory=lambda: defaultdict(list))

    def add(self, table: Table, row: Payload) -> None:
        """Queue one row for `table`."""
        self.rows[table].append(row)

    async def flush(self, session: AsyncSession) -> None:
        """Write every queued row, one executemany per table."""
        for table, rows in self.rows.items():
            if rows:
                await session.execute(pg_insert(table).on_conflict_do_nothing(), rows)
        self.rows.clear()


@dataclass
class HandlerContext:
    """What a handler gets besides its envelope; clock and settings are injectable."""

    session: AsyncSession
    settings: Settings
    uow: UnitOfWork
    now: datetime
    events: list[Envelope] = field(default_factory=list)

    def emit(self, name: str, payload: Payload, chargepoint_id: str | None = None) -> None:
        """Publish domain event `name` once the transaction has committed."""
        self.events.append(event(name, payload, chargepoint_id))


Handler = Callable[[HandlerContext, Envelope], Awaitable[Payload | None]]
"""Returns the CALLRESULT payload for an RPC action, None for fire-and-forget messages."""


@dataclass(frozen=True)
class Route:
    """One row of a service's route table.

    `rpc` routes are calls a charge point is waiting on (BootNotification, Authorize, ...):
    they get their own queue so they never wait behind a backlog of fire-and-forget messages.
    """

    exchange: str
    routing_key: str
    handler: Handler
    log_message: bool = True
    rpc: bool = False
    own_queue: str = ""
    """Non-empty: consumed from a queue of its own, `<service queue>.<own_queue>`, one
    message per transaction (shared/service.consume_router)."""


BeforeBatch = Callable[["AsyncSession", Sequence["DeliveryLike"]], Awaitable[None]]
"""Runs first in a batch's transaction, before any handler, with the whole batch: a service
takes there the row locks its handlers will need, in one global order (no deadlocks between
concurrent batches: services/registry/locking.py, services/transactions/locks.py)."""


class Router:
    """A service's route table: routing key -> handler, and the batch's `before_batch` step."""

    def __init__(self, routes: Sequence[Route], *, before_batch: BeforeBatch | None = None) -> None:
        self.routes = {r.routing_key: r for r in routes}
        self.before_batch = before_batch

    def bindings(self, *, rpc: bool | None = None, own_queue: str = "") -> list[tuple[str, str]]:
        """(exchange, routing key) pairs of the routes on the service's main queues (or on
        `own_queue`): all, or only the RPC / only the other routes."""
        return [
            (r.exchange, r.routing_key)
            for r in self.routes.values()
            if (rpc is None or r.rpc == rpc) and r.own_queue == own_queue
        ]

    def own_queues(self) -> list[str]:
        """The names of the queues routes have of their own, sorted."""
        return sorted({r.own_queue for r in self.routes.values() if r.own_queue})


def fixed_answer(env: Envelope) -> Payload:
    """The CALLRESULT the gateway sends itself for a fire-and-forget action."""
    if env.action == "Heartbeat":
        return {"currentTime": env.created_at.isoformat().replace("+00:00", "Z")}
    return {}


MessageLogWriter = Callable[[UnitOfWork, Envelope, Envelope | None], None]


class Dispatcher:
    """Runs batches of deliveries through a `Router` in one transaction per batch."""

    def __init__(
        self,
        *,
        router: Router,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        publisher: EventPublisher,
        log_writer: MessageLogWriter | None = None,
        clock: Callable[[], datetime] = utcnow,
        service: str = "",
    ) -> None:
        self.service = service
        self.router = router
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.publisher = publisher
        self.log_writer = log_writer
        self.clock = clock

    async def __call__(self, deliveries: Sequence[DeliveryLike]) -> list[Envelope | None]:
        """Handle a batch; return one reply (or None) per delivery."""
        replies: list[Envelope | None] = []
        events: list[Envelope] = []
        try:
            async with self.sessionmaker() as session, session.begin():
                uow = UnitOfWork()
                if self.router.before_batch is not None:
                    await self.router.before_batch(session, deliveries)
                for delivery in deliveries:
                    ctx = HandlerContext(session, self.settings, uow, self.clock())
                    replies.append(await self._handle_one(ctx, delivery))
                    events.extend(ctx.events)
                await uow.flush(session)
                events = await stage_public_events(session, events, self.settings)
        except Exception as exc:
            # The database down or busy is no fault of these messages: the consumer holds
            # the batch and runs it again, instead of spending their delivery limit.
            if is_transient_db_error(exc):
                raise Retry(repr(exc)) from exc
            # The same data fails every time: no retry, dead-letter it (the consumer splits
            # a batch to find which message it is).
            if (state := data_error_state(exc)) is not None:
                raise Reject(data_error_detail(exc, state), reason=DATA_ERROR) from exc
            raise
        if events:
            results = await asyncio.gather(
                *(self.publisher.publish_event(ev) for ev in events), return_exceptions=True
            )
            for ev, res in zip(events, results, strict=True):
                if isinstance(res, BaseException):
                    log.error("event %s not published after commit: %r", ev.action, res)
        return replies

    async def _handle_one(self, ctx: HandlerContext, delivery: DeliveryLike) -> Envelope | None:
        env = delivery.envelope
        route = self.router.routes.get(delivery.routing_key)
        chargepoint_id_var.set(env.chargepoint_id)
        unique_id_var.set(env.unique_id)
        correlation_id_var.set(env.correlation_id)
        if route is None:
            log.warning("no handler for routing key %s", delivery.routing_key)
            return env.error("NotSupported", f"{env.action} is not handled by this service")
        reply: Envelope | None
        started = time.perf_counter()
        try:
            result = await route.handler(ctx, env)
        except OcppError as exc:
            reply = env.error(exc.code, exc.description, exc.details)
        else:
            reply = env.result(result) if result is not None else None
        HANDLER_SECONDS.labels(self.service, env.action).observe(time.perf_counter() - started)
        if route.log_message and self.log_writer is not None and env.kind is Kind.CALL:
            # What went on the wire: the gateway answered a fire-and-forget CALL itself
            # before any handler ran, so a refusal here is not an answer the charge point
            # got (the consumer dead-letters it: an error nobody waits for).
            self.log_writer(ctx.uow, env, reply if route.rpc else None)
        return reply


def data_error_state(exc: BaseException) -> str | None:
    """The SQLSTATE of a Postgres data exception (class 22: the value is refused, e.g.
    NUL in text 22021 / 22P05, numeric out of range 22003), else None."""
    if not isinstance(exc, DBAPIError):
        return None
    state = str(getattr(exc.orig, "sqlstate", None) or "")
    return state if state.startswith("22") else None


def data_error_detail(exc: BaseException, state: str) -> str:
    """The database's own message (not the statement and its parameters), one line."""
    orig = getattr(exc, "orig", exc)
    text = str(orig)
    message = text.splitlines()[0] if text else type(orig).__name__
    return f"SQLSTATE {state}: {message}"[:500]
