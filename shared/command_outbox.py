"""The command log is the outbox of command effects (docs/commands.md, "Effects").

1. The sender (the API) commits a command's outcome together with its `seq`: the charge
   point's next number from `command_sequence`. Taking it locks that row until commit, so
   the completions of one charge point commit in `seq` order and a reader that sees `seq` n
   sees every smaller one.
2. After the commit it publishes `command.completed` with publisher confirms. The event is
   a nudge, not the data: a lost or repeated event loses or repeats nothing.
3. Each effect consumer (registry, transactions, charging) handles a nudge for a charge
   point by applying, in `seq` order, every completed row past its cursor for that charge
   point (`command_effect_cursor`, row-locked, moved in the same transaction). Two
   consumers of one service serialize on the cursor; the effects of one charge point are
   applied once each, in the order their outcomes were committed.
4. A sweeper (run by the registry) marks `pending` rows whose sender died `lost`, and nudges
   (`command.effects_due`) the charge points some consumer has not caught up with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Protocol, TypeVar

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus.errors import BusError, Reject
from shared.bus.topology import EVENTS
from shared.commands import (
    COMMAND_COMPLETED,
    COMMAND_EFFECTS_DUE,
    GATEWAY_NOT_CONNECTED,
    GATEWAY_TIMEOUT,
)
from shared.db.models import CommandEffectCursor, CommandLog, CommandSequence
from shared.db.sequences import take_seqs
from shared.db.session import is_transient_db_error
from shared.dispatch import HandlerContext, Route
from shared.envelope import Envelope, Kind
from shared.events.outbox import PublicEvent, stage
from shared.messages import CommandNudge
from shared.ocpp import OCPP16, OCPP201, OcppModel, ResponseInvalid, parse_payload

log = logging.getLogger(__name__)

COMMAND_LOG: Table = CommandLog.__table__  # type: ignore[assignment]
SEQUENCE: Table = CommandSequence.__table__  # type: ignore[assignment]
CURSOR: Table = CommandEffectCursor.__table__  # type: ignore[assignment]

EFFECT_CONSUMERS: Final = ("registry", "transactions", "charging")
"""The services that apply command effects, each with its own cursors."""
EFFECTS_QUEUE: Final = "command-effects"
"""`Route.own_queue` of the effect routes: `csms.<service>.command-effects`."""

LOST: Final = "lost"
LOST_CODE: Final = "Lost"
LOST_DESCRIPTION: Final = (
    "the process that sent the command ended before the answer; whether the charge point "
    "acted on it is unknown"
)
OPEN_OUTCOMES: Final = ("pending", LOST)
"""Outcomes a completion may replace (a `lost` row whose real answer arrives after all)."""
DEFAULT_WAIT: Final = timedelta(seconds=300.5)
"""How long a pending row without `expires_at` (written before migration 0006) may wait."""
PAGE: Final = 200
"""Command log rows read at a time while applying effects."""

Effect = Callable[[HandlerContext, str, dict[str, Any], dict[str, Any]], Awaitable[None]]
"""(ctx, charge point id, request, CALLRESULT payload): the effect of one command's result."""

Q = TypeVar("Q", bound=OcppModel)
R = TypeVar("R", bound=OcppModel)
TypedEffect = Callable[[HandlerContext, str, Q, R], Awaitable[None]]


def typed_effect(
    request: type[Q], response: type[R], effect: TypedEffect[Q, R], *, version: str = OCPP201
) -> Effect:
    """An `Effect` that reads the stored request and answer as their typed models
    (shared/ocpp) and hands those to `effect`; an unreadable row raises (logged, passed)."""

    async def apply(
        ctx: HandlerContext, chargepoint_id: str, req: dict[str, Any], res: dict[str, Any]
    ) -> None:
        typed_request = parse_payload(request, req, version=version)
        typed_response = parse_payload(response, res, version=version, error=ResponseInvalid)
        await effect(ctx, chargepoint_id, typed_request, typed_response)

    apply.__name__ = getattr(effect, "__name__", "effect")
    apply.__doc__ = effect.__doc__
    return apply


ERROR_CODES: Final = {
    "offline": GATEWAY_NOT_CONNECTED,
    "timeout": GATEWAY_TIMEOUT,
    LOST: LOST_CODE,
}


class ConfirmedPublisher(Protocol):
    """What the outbox needs of `shared.bus.Bus`: a publish that waits for the confirm."""

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = ...
    ) -> None: ...


# ------------------------------------------------------------------------ completing


async def next_seq(session: AsyncSession, chargepoint_id: str) -> int:
    """The charge point's next `seq`; its `command_sequence` row stays locked until commit."""
    return (await take_seqs(session, SEQUENCE, {chargepoint_id: 1}))[chargepoint_id]


async def complete(
    session: AsyncSession, command_id: uuid.UUID, values: Mapping[str, Any]
) -> Envelope | None:
    """Record a command's outcome (`values`: outcome, response, error columns, completed_at)
    with the charge point's next `seq`; the `command.completed` event to publish once the
    transaction committed. None if the row is not pending (or lost) any more.

    Locks the command log row, then the sequence row: every writer takes them in this order.
    """
    found = (
        await session.execute(
            select(COMMAND_LOG.c.chargepoint_id)
            .where(COMMAND_LOG.c.id == command_id, COMMAND_LOG.c.outcome.in_(OPEN_OUTCOMES))
            .with_for_update()
        )
    ).one_or_none()
    if found is None:
        return None
    seq = await next_seq(session, found.chargepoint_id)
    row = (
        await session.execute(
            update(COMMAND_LOG)
            .where(COMMAND_LOG.c.id == command_id)
            .values(**values, seq=seq)
            .returning(*COMMAND_LOG.c)
        )
    ).one()
    await stage(session, [command_completed_public(dict(row._mapping))])
    return completed_event(dict(row._mapping))


def command_completed_public(row: Mapping[str, Any]) -> PublicEvent:
    """The public `command.completed` event of a completed command log row."""
    payload = completed_payload_of(row)
    data = {k: payload[k] for k in ("correlation_id", "action", "outcome", "response", "error")}
    return PublicEvent("command.completed", data, row["chargepoint_id"])


def completed_payload_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The `command.completed` payload of a completed command log row (docs/commands.md)."""
    outcome = str(row["outcome"])
    response = row["response"] if outcome == "result" else None
    error: dict[str, Any] | None = None
    if outcome != "result":
        details = row["response"] if outcome in ("error", "refused") and row["response"] else {}
        error = {
            "code": row["error_code"] or ERROR_CODES.get(outcome, "GenericError"),
            "description": row["error_description"] or "",
            "details": details,
        }
    return {
        "correlation_id": row["id"].hex,
        "chargepoint_id": row["chargepoint_id"],
        "action": row["action"],
        "request": row["request"],
        "outcome": outcome,
        "response": response,
        "error": error,
        "seq": row["seq"],
        "ocpp_version": row.get("ocpp_version"),
    }


def completed_event(row: Mapping[str, Any]) -> Envelope:
    """The `command.completed` event of a completed command log row."""
    correlation_id = row["id"].hex
    return Envelope(
        kind=Kind.EVENT,
        action=COMMAND_COMPLETED,
        chargepoint_id=row["chargepoint_id"],
        correlation_id=correlation_id,
        unique_id=correlation_id,
        payload=completed_payload_of(row),
    )


async def publish_nudge(publisher: ConfirmedPublisher, event: Envelope) -> bool:
    """Publish a committed command's event (confirmed). A failure is logged, not raised:
    the outcome is committed and the sweeper nudges the effect consumers later."""
    try:
        await publisher.publish(EVENTS, event.action, event)
    except BusError as exc:
        log.warning(
            "%s of %s not published (%r); the command sweeper will nudge its effects",
            event.action,
            event.correlation_id,
            exc,
        )
        return False
    return True


# ------------------------------------------------------------------------ applying


async def apply_effects(
    ctx: HandlerContext,
    *,
    consumer: str,
    chargepoint_id: str,
    effects: Mapping[str, Effect],
    effects_v201: Mapping[str, Effect] | None = None,
) -> int:
    """Apply, in `seq` order, the effects of the charge point's completed commands past this
    consumer's cursor, and move the cursor; the number of command log rows passed.

    Only `result` outcomes of actions in `effects` (1.6: rows with `ocpp_version` 1.6 or
    NULL) or `effects_v201` (rows sent as 2.0.1) have effects. An effect that fails for a
    reason other than the database being unavailable is rolled back to its savepoint,
    logged and passed (its stored request will not change: waiting would block every later
    effect of the charge point for good).
    """
    session = ctx.session
    key = (CURSOR.c.consumer == consumer) & (CURSOR.c.chargepoint_id == chargepoint_id)
    await session.execute(
        pg_insert(CURSOR)
        .values(consumer=consumer, chargepoint_id=chargepoint_id, applied_seq=0)
        .on_conflict_do_nothing(index_elements=["consumer", "chargepoint_id"])
    )
    start: int = (
        await session.execute(select(CURSOR.c.applied_seq).where(key).with_for_update())
    ).scalar_one()
    applied = start
    c = COMMAND_LOG.c
    tables: dict[str, Mapping[str, Effect]] = {OCPP16: effects, OCPP201: effects_v201 or {}}
    while True:
        rows = (
            await session.execute(
                select(c.id, c.seq, c.action, c.outcome, c.request, c.response, c.ocpp_version)
                .where(c.chargepoint_id == chargepoint_id, c.seq > applied)
                .order_by(c.seq)
                .limit(PAGE)
            )
        ).all()
        if not rows:
            break
        for row in rows:
            effect = tables.get(row.ocpp_version or OCPP16, {}).get(row.action)
            if (
                effect is not None
                and row.outcome == "result"
                and isinstance(row.request, dict)
                and isinstance(row.response, dict)
            ):
                await _apply_one(ctx, effect, chargepoint_id, row)
            applied = row.seq
    if applied != start:
        await session.execute(
            update(CURSOR).where(key).values(applied_seq=applied, updated_at=func.now())
        )
    return applied - start


async def _apply_one(ctx: HandlerContext, effect: Effect, chargepoint_id: str, row: Any) -> None:
    try:
        async with ctx.session.begin_nested():
            await effect(ctx, chargepoint_id, row.request, row.response)
    except Exception as exc:
        if is_transient_db_error(exc):
            raise
        log.error(
            "effect of %s %s (seq %s) on %s failed and is passed: %r",
            row.action,
            row.id,
            row.seq,
            chargepoint_id,
            exc,
        )


def effect_routes(
    consumer: str,
    effects: Mapping[str, Effect],
    effects_v201: Mapping[str, Effect] | None = None,
) -> list[Route[Any]]:
    """The routes of one service's effect consumer: `command.completed` and the sweeper's
    `command.effects_due`, on the service's `command-effects` queue (one message per
    transaction: each takes one charge point's cursor)."""

    async def handle(ctx: HandlerContext, env: Envelope, req: CommandNudge) -> None:
        chargepoint_id = req.chargepoint_id or ctx.chargepoint_id
        if not chargepoint_id:
            raise Reject(f"{env.action} without chargepoint_id")
        await apply_effects(
            ctx,
            consumer=consumer,
            chargepoint_id=chargepoint_id,
            effects=effects,
            effects_v201=effects_v201,
        )

    return [
        Route(
            EVENTS,
            key,
            handle,
            CommandNudge,
            log_message=False,
            own_queue=EFFECTS_QUEUE,
            chargepoint_required=False,
        )
        for key in (COMMAND_COMPLETED, COMMAND_EFFECTS_DUE)
    ]


# ------------------------------------------------------------------------ sweeping


def effects_due(chargepoint_id: str) -> Envelope:
    """The sweeper's nudge for one charge point."""
    return Envelope(
        kind=Kind.EVENT,
        action=COMMAND_EFFECTS_DUE,
        chargepoint_id=chargepoint_id,
        payload={"chargepoint_id": chargepoint_id},
    )


@dataclass
class CommandSweeper:
    """Resolves abandoned pending commands and nudges lagging effect consumers.

    - a `pending` row whose `expires_at` (else created_at + 300.5 s) is more than
      `abandon_margin` in the past: the API process that waited for it died. It becomes
      `lost` (with a seq, and its `command.completed` event), never to stay pending.
    - a charge point whose last seq is older than `nudge_grace` (the events had their chance)
      and younger than `nudge_window`, and that some consumer's cursor has not reached:
      `command.effects_due` for it, at most once per `nudge_every` seconds.
    Several sweepers (registry replicas) may run: rows are taken with SKIP LOCKED, and a
    repeated nudge applies nothing twice.
    """

    sessionmaker: async_sessionmaker[AsyncSession]
    publisher: ConfirmedPublisher
    interval: float = 5.0
    abandon_margin: timedelta = timedelta(seconds=30)
    nudge_grace: timedelta = timedelta(seconds=10)
    nudge_window: timedelta = timedelta(days=1)
    nudge_every: float = 60.0
    consumers: tuple[str, ...] = EFFECT_CONSUMERS
    _nudged: dict[str, float] = field(default_factory=dict)

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep every `interval` seconds until `stopping` is set."""
        while not stopping.is_set():
            try:
                await self.sweep()
            except (SQLAlchemyError, OSError, BusError) as exc:  # database or broker away
                log.warning("command sweep failed: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)

    async def sweep(self) -> tuple[int, int]:
        """One round: (commands marked lost, charge points nudged)."""
        lost = await self.resolve_abandoned()
        nudged = await self.nudge_lagging()
        return lost, nudged

    async def resolve_abandoned(self, limit: int = 100) -> int:
        """Mark abandoned pending rows `lost`; publish their events. How many."""
        c = COMMAND_LOG.c
        deadline = func.coalesce(c.expires_at, c.created_at + DEFAULT_WAIT)
        events: list[Envelope] = []
        async with self.sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(c.id)
                    .where(c.outcome == "pending", deadline < func.now() - self.abandon_margin)
                    .order_by(c.chargepoint_id, c.created_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                event = await complete(
                    session,
                    row.id,
                    {
                        "outcome": LOST,
                        "error_code": LOST_CODE,
                        "error_description": LOST_DESCRIPTION,
                        "completed_at": func.now(),
                    },
                )
                if event is not None:
                    events.append(event)
        for event in events:
            log.warning(
                "command %s %s to %s was abandoned while pending: marked lost",
                event.payload["action"],
                event.correlation_id,
                event.chargepoint_id,
            )
            await publish_nudge(self.publisher, event)
        return len(events)

    async def nudge_lagging(self, limit: int = 500) -> int:
        """Nudge the charge points some effect consumer lags behind on. How many."""
        s = SEQUENCE.c
        async with self.sessionmaker() as session:
            recent = (
                await session.execute(
                    select(s.chargepoint_id, s.last_seq)
                    .where(
                        s.updated_at < func.now() - self.nudge_grace,
                        s.updated_at > func.now() - self.nudge_window,
                    )
                    .limit(limit)
                )
            ).all()
            if not recent:
                return 0
            ids = [r.chargepoint_id for r in recent]
            cursors = (
                await session.execute(
                    select(CURSOR.c.consumer, CURSOR.c.chargepoint_id, CURSOR.c.applied_seq).where(
                        CURSOR.c.chargepoint_id.in_(ids)
                    )
                )
            ).all()
        applied = {(r.consumer, r.chargepoint_id): r.applied_seq for r in cursors}
        now = asyncio.get_running_loop().time()
        nudged = 0
        for row in recent:
            if all(applied.get((c, row.chargepoint_id), 0) >= row.last_seq for c in self.consumers):
                continue
            if now - self._nudged.get(row.chargepoint_id, -self.nudge_every) < self.nudge_every:
                continue
            if await publish_nudge(self.publisher, effects_due(row.chargepoint_id)):
                self._nudged[row.chargepoint_id] = now
                nudged += 1
        return nudged
