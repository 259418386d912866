"""The stream hub of one api process: one reader of the event outbox, many SSE clients.

The hub reads settled events (shared/events/store.py) every poll interval and offers each to
every subscriber whose filters take it. A subscriber's queue is bounded: one that falls
`CSMS_EVENTS_STREAM_BUFFER` events behind is cut (its stream ends; it may resume with its
Last-Event-ID), so a slow client never holds the hub or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from shared.events import store
from shared.events.catalogue import matches
from shared.events.store import Cursor, StoredEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)

PAGE = 500


@dataclass
class StreamFilter:
    """Which events a client gets: types, charge points, locations; a driver's id tags."""

    types: list[str] = field(default_factory=list)
    chargepoint_ids: list[str] = field(default_factory=list)
    location_ids: list[str] = field(default_factory=list)
    id_tags: frozenset[str] | None = None
    """Set for drivers: only events about these id tags."""

    def takes(self, ev: StoredEvent) -> bool:
        if not matches(self.types, ev.type):
            return False
        if self.chargepoint_ids and ev.chargepoint_id not in self.chargepoint_ids:
            return False
        if self.location_ids and ev.location_id not in self.location_ids:
            return False
        return self.id_tags is None or (ev.id_tag is not None and ev.id_tag in self.id_tags)


@dataclass(eq=False)
class Subscriber:
    """One client: its filter, bounded queue and whether it was cut."""

    filter: StreamFilter
    queue: asyncio.Queue[StoredEvent]
    cut: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, ev: StoredEvent) -> bool:
        """Queue an event it takes; False when the queue is full (the client is cut)."""
        if not self.filter.takes(ev):
            return True
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.cut.set()
            return False
        return True


@dataclass
class StreamHub:
    """Polls the outbox for the process's subscribers."""

    sessionmaker: Callable[[], async_sessionmaker[AsyncSession]]
    poll: float = 0.5
    buffer: int = 1000
    subscribers: set[Subscriber] = field(default_factory=set)
    cursor: Cursor | None = None
    _task: asyncio.Task[None] | None = None
    _started: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """Start polling from "now" (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-stream-hub")
        await self._started.wait()

    async def stop(self) -> None:
        """Stop polling and cut every subscriber."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sub in self.subscribers:
            sub.cut.set()

    async def _run(self) -> None:
        while self.cursor is None:
            try:
                async with self.sessionmaker()() as session:
                    self.cursor = await store.head(session)
            except (SQLAlchemyError, OSError) as exc:  # the database away: try again
                log.warning("event stream hub cannot start: %r", exc)
                await asyncio.sleep(self.poll)
        self._started.set()
        while True:
            try:
                await self._poll_once()
            except asyncio.CancelledError:
                raise
            except (SQLAlchemyError, OSError) as exc:  # the database away: next poll
                log.warning("event stream read failed: %r", exc)
            await asyncio.sleep(self.poll)

    async def _poll_once(self) -> None:
        assert self.cursor is not None
        while True:
            async with self.sessionmaker()() as session:
                events = await store.read_after(session, self.cursor, PAGE)
            for ev in events:
                for sub in list(self.subscribers):
                    if not sub.offer(ev):
                        self.subscribers.discard(sub)
                self.cursor = ev.cursor
            if len(events) < PAGE:
                return

    @contextlib.asynccontextmanager
    async def subscribe(
        self, stream_filter: StreamFilter, *, buffer: int | None = None
    ) -> AsyncIterator[Subscriber]:
        """Register a subscriber for the duration of the block (`buffer`: its queue size,
        the hub's by default)."""
        await self.start()
        sub = Subscriber(stream_filter, asyncio.Queue(maxsize=buffer or self.buffer))
        self.subscribers.add(sub)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)
