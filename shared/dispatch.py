"""Batch dispatch for the consumer services: typed handlers, one DB transaction per batch.

A batch of deliveries (what the consumer had prefetched) goes through four steps, in order:

1. **parse** (no database): each delivery's route is found by routing key and the envelope's
   payload is parsed into the route's request model (`Route.request`). A payload that does
   not parse is refused here, before anything is written: a charge point's CALL gets the
   version's CALLERROR (`FormationViolation` / `FormatViolation` family, from the model's
   `RequestInvalid`), any other message (events, gateway housekeeping, command effects:
   nothing a charge point can send) is dead-lettered with reason `invalid-payload`. An
   envelope without the charge point id its route needs is dead-lettered the same way.
2. **before_batch** (`Router(before_batch=...)`): the service locks, in one global order, the
   rows the batch's handlers will write, from the parsed requests.
3. **handlers**, one per parsed delivery in delivery order, `handler(ctx, env, req)`, on the
   batch's session; bulk rows go to the `UnitOfWork`.
4. **flush**: the `UnitOfWork` writes its rows (one executemany per table) and runs its
   batch steps (aggregated updates such as transactions' `wh_meter_last`); the transaction
   commits; domain events are published; the bus publishes the replies and acks.

A failing handler fails the batch; the bus then retries the messages one at a time, so a
poison message is isolated. Failures by kind (docs/internals.md, "Failure signals"): the
database unavailable or busy (connection lost, deadlock, serialization) -> `Retry` (the
batch is held and run again, no delivery spent); Postgres refusing the data (SQLSTATE class
22) -> `Reject(reason="data-error")` (the culprit is found by splitting the batch and
dead-lettered at once); anything else is raised as it is (requeued up to the delivery limit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from shared.bus.consumer import Outcome, Rejected
from shared.bus.deadletter import DATA_ERROR, INVALID_PAYLOAD
from shared.bus.errors import Reject, Retry
from shared.bus.topology import UPSTREAM, upstream_key
from shared.db.session import is_transient_db_error
from shared.envelope import Envelope, Kind, event, utcnow
from shared.events.staging import stage_public_events
from shared.logging import chargepoint_id_var, correlation_id_var, unique_id_var
from shared.metrics import HANDLER_SECONDS
from shared.ocpp import (
    OcppModel,
    RequestInvalid,
    dump_payload,
    format_datetime,
    parse_payload,
    request_model,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.settings import Settings

log = logging.getLogger(__name__)

Payload = dict[str, Any]
Req = TypeVar("Req", bound=BaseModel)
Step = TypeVar("Step", bound="BatchStep")


class OcppError(Exception):
    """A handler's refusal, answered to the charge point as a CALLERROR with this code.

    The batch's transaction still commits (the message log keeps the refusal); a payload
    that does not fit its model never reaches a handler (see the module docstring), so this
    is for decisions on well-formed requests (e.g. `InternalError` on a key collision).
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


class BatchStep(Protocol):
    """Work a batch's handlers accumulate and one statement applies at the end of the batch
    (after the bulk rows, before commit): `UnitOfWork.step`."""

    async def run(self, session: AsyncSession) -> None: ...


@dataclass
class UnitOfWork:
    """What a batch writes at its end: bulk rows (INSERT ... ON CONFLICT DO NOTHING, one
    executemany per table: idempotent), then the batch steps, in the order first used."""

    rows: dict[Table, list[Payload]] = field(default_factory=lambda: defaultdict(list))
    steps: dict[type[BatchStep], BatchStep] = field(default_factory=dict)

    def add(self, table: Table, row: Payload) -> None:
        """Queue one row for `table`."""
        self.rows[table].append(row)

    def step(self, kind: type[Step]) -> Step:
        """The batch's one instance of step `kind` (created on first use), to add work to."""
        found = self.steps.get(kind)
        if found is None:
            found = self.steps[kind] = kind()
        assert isinstance(found, kind)
        return found

    async def flush(self, session: AsyncSession) -> None:
        """Write every queued row, one executemany per table; then run the batch steps."""
        for table, rows in self.rows.items():
            if rows:
                await session.execute(pg_insert(table).on_conflict_do_nothing(), rows)
        self.rows.clear()
        steps = list(self.steps.values())
        self.steps.clear()
        for batch_step in steps:
            await batch_step.run(session)


@dataclass
class HandlerContext:
    """What a handler gets besides its envelope and request; clock and settings injectable.

    `chargepoint_id` is the envelope's, checked by the dispatcher for routes that need one
    (`Route.chargepoint_required`), "" otherwise.
    """

    session: AsyncSession
    settings: Settings
    uow: UnitOfWork
    now: datetime
    events: list[Envelope] = field(default_factory=list)
    chargepoint_id: str = ""

    def emit(self, name: str, payload: Payload, chargepoint_id: str | None = None) -> None:
        """Publish domain event `name` once the transaction has committed."""
        self.events.append(event(name, payload, chargepoint_id))


Answer = Payload | BaseModel | None
"""A handler's CALLRESULT for an RPC route (a response model or its payload), None for
fire-and-forget messages."""

Handler = Callable[[HandlerContext, Envelope, Req], Awaitable[Answer]]
"""`handler(ctx, env, req)`: `req` is the envelope's payload parsed into the route's model."""


@dataclass(frozen=True)
class Route(Generic[Req]):
    """One row of a service's route table: routing key -> request model -> handler.

    `rpc` routes are calls a charge point (or the API, the gateway) is waiting on: they get
    their own queue so they never wait behind a backlog of fire-and-forget messages.
    `ocpp_version` is set (by `ocpp_route`) when the payload is a charge point's CALL: a
    payload that does not parse is then answered with that version's CALLERROR; on any
    other route it is dead-lettered.
    """

    exchange: str
    routing_key: str
    handler: Handler[Req]
    request: type[Req]
    log_message: bool = True
    rpc: bool = False
    own_queue: str = ""
    """Non-empty: consumed from a queue of its own, `<service queue>.<own_queue>`, one
    message per transaction (shared/service.consume_router)."""
    ocpp_version: str | None = None
    chargepoint_required: bool = True
    """The envelope must name its charge point (`HandlerContext.chargepoint_id`)."""


def ocpp_route(
    version: str,
    action: str,
    handler: Handler[Req],
    request: type[Req],
    *,
    rpc: bool = False,
    exchange: str = UPSTREAM,
) -> Route[Req]:
    """The route of a charge point's CALL `action` in OCPP `version`.

    `request` must be the generated model of that action (`shared.ocpp.request_model`): the
    route table fails to build otherwise, so no route parses with another action's model.
    """
    expected = request_model(version, action)
    if request is not expected:
        raise TypeError(f"{version} {action}: the request model is {expected.__name__}")
    return Route(
        exchange, upstream_key(version, action), handler, request, rpc=rpc, ocpp_version=version
    )


BeforeBatch = Callable[["AsyncSession", Sequence["Parsed[Any]"]], Awaitable[None]]
"""Runs first in a batch's transaction, before any handler, with the batch's parsed
deliveries: a service takes there the row locks its handlers will need, in one global order
(no deadlocks between concurrent batches: services/registry/locking.py,
services/transactions/locks.py)."""


class Router:
    """A service's route table: routing key -> route, and the batch's `before_batch` step."""

    def __init__(
        self, routes: Sequence[Route[Any]], *, before_batch: BeforeBatch | None = None
    ) -> None:
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


@dataclass(frozen=True, slots=True)
class Parsed(Generic[Req]):
    """A delivery whose payload parsed into its route's request model."""

    delivery: DeliveryLike
    route: Route[Req]
    request: Req

    @property
    def envelope(self) -> Envelope:
        return self.delivery.envelope

    @property
    def routing_key(self) -> str:
        return self.delivery.routing_key


def parse_delivery(route: Route[Req], delivery: DeliveryLike) -> Parsed[Req] | Outcome:
    """Step 1 for one delivery: its parsed request, or its refusal (see the module docstring)."""
    env = delivery.envelope
    if route.chargepoint_required and not env.chargepoint_id:
        return Rejected(f"{env.action} envelope without chargepoint_id", INVALID_PAYLOAD)
    try:
        model = route.request
        if route.ocpp_version is not None and issubclass(model, OcppModel):
            # The generated models: OCPP's strictness, the version's error codes.
            ocpp = parse_payload(model, env.payload, version=route.ocpp_version, action=env.action)
            request = cast(Req, ocpp)
        else:
            request = model.model_validate(env.payload)
    except RequestInvalid as exc:
        if env.kind is Kind.CALL:
            return env.error(exc.code, exc.description, exc.details)
        return Rejected(f"{env.action}: {exc.description}", INVALID_PAYLOAD)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return Rejected(f"{env.action}: {where}: {first['msg']}", INVALID_PAYLOAD)
    return Parsed(delivery, route, request)


def fixed_answer(env: Envelope) -> Payload:
    """The CALLRESULT the gateway sends itself for a fire-and-forget action."""
    if env.action == "Heartbeat":
        return {"currentTime": format_datetime(env.created_at)}
    return {}


def answer_payload(answer: Payload | BaseModel) -> Payload:
    """A handler's answer as the CALLRESULT payload (an OCPP model in OCPP's JSON form)."""
    if isinstance(answer, OcppModel):
        return dump_payload(answer)
    if isinstance(answer, BaseModel):
        return answer.model_dump(mode="json", by_alias=True, exclude_none=True)
    return answer


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

    async def __call__(self, deliveries: Sequence[DeliveryLike]) -> list[Outcome]:
        """Handle a batch; return one outcome (reply, Rejected or None) per delivery."""
        # 1. parse: every refusal is decided here, before the transaction opens.
        steps: list[Parsed[Any] | Outcome] = [self._parse(d) for d in deliveries]
        parsed = [s for s in steps if isinstance(s, Parsed)]
        replies: list[Outcome] = []
        events: list[Envelope] = []
        try:
            async with self.sessionmaker() as session, session.begin():
                uow = UnitOfWork()
                # 2. the batch's locks, in one global order.
                if self.router.before_batch is not None and parsed:
                    await self.router.before_batch(session, parsed)
                # 3. the handlers, in delivery order (a refused CALL only writes its log rows).
                for delivery, step in zip(deliveries, steps, strict=True):
                    ctx = HandlerContext(session, self.settings, uow, self.clock())
                    if isinstance(step, Parsed):
                        replies.append(await self._handle_one(ctx, step))
                        events.extend(ctx.events)
                    else:
                        self._log_refusal(uow, delivery, step)
                        replies.append(step)
                # 4. bulk rows, then the batch steps; commit on leaving the block.
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

    def _parse(self, delivery: DeliveryLike) -> Parsed[Any] | Outcome:
        env = delivery.envelope
        route = self.router.routes.get(delivery.routing_key)
        if route is None:
            log.warning("no handler for routing key %s", delivery.routing_key)
            return env.error("NotSupported", f"{env.action} is not handled by this service")
        outcome = parse_delivery(route, delivery)
        if isinstance(outcome, Rejected | Envelope):
            log.warning(
                "%s from %s refused before its handler: %s",
                env.action,
                env.chargepoint_id,
                outcome.detail if isinstance(outcome, Rejected) else outcome.error_description,
            )
        return outcome

    def _log_refusal(self, uow: UnitOfWork, delivery: DeliveryLike, outcome: Outcome) -> None:
        """The message-log rows of a CALL refused at parsing (what went on the wire)."""
        route = self.router.routes.get(delivery.routing_key)
        env = delivery.envelope
        if route is None or not isinstance(outcome, Envelope):
            return
        self._log(uow, route, env, outcome)

    def _log(
        self, uow: UnitOfWork, route: Route[Any], env: Envelope, reply: Envelope | None
    ) -> None:
        if route.log_message and self.log_writer is not None and env.kind is Kind.CALL:
            # What went on the wire: the gateway answered a fire-and-forget CALL itself
            # before any handler ran, so a refusal here is not an answer the charge point
            # got (the consumer dead-letters it: an error nobody waits for).
            self.log_writer(uow, env, reply if route.rpc else None)

    async def _handle_one(self, ctx: HandlerContext, parsed: Parsed[Any]) -> Envelope | None:
        env, route = parsed.envelope, parsed.route
        ctx.chargepoint_id = env.chargepoint_id or ""
        chargepoint_id_var.set(env.chargepoint_id)
        unique_id_var.set(env.unique_id)
        correlation_id_var.set(env.correlation_id)
        reply: Envelope | None
        started = time.perf_counter()
        try:
            result = await route.handler(ctx, env, parsed.request)
        except OcppError as exc:
            reply = env.error(exc.code, exc.description, exc.details)
        else:
            reply = env.result(answer_payload(result)) if result is not None else None
        HANDLER_SECONDS.labels(self.service, env.action).observe(time.perf_counter() - started)
        self._log(ctx.uow, route, env, reply)
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
