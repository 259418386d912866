"""`/events`: the AsyncAPI document and the Server-Sent Events stream (docs/events.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.deps import CurrentUser, Principal, SessionDep
from services.api.errors import Unprocessable, error_responses
from services.api.events.hub import StreamFilter, StreamHub, Subscriber
from shared.db.models import IdTag
from shared.events import store
from shared.events.asyncapi import asyncapi_document
from shared.events.catalogue import valid_subscription
from shared.events.store import Cursor, StoredEvent
from shared.settings import Settings

router = APIRouter(prefix="/events", tags=["events"])

GAP = b'event: gap\ndata: {"reason": "events older than the retention window were deleted"}\n\n'
CUT = (
    b'event: cut\ndata: {"reason": "the client fell too far behind; resume with Last-Event-ID"}\n\n'
)


@router.get(
    "/asyncapi.json",
    summary="AsyncAPI document of the public events",
    response_class=JSONResponse,
)
async def asyncapi() -> JSONResponse:
    """Every event type with its schema and an example (AsyncAPI 2.6), generated from the
    event models; the same events go to webhooks and the stream."""
    return JSONResponse(asyncapi_document())


def hub_of(request: Request) -> StreamHub:
    """The app's stream hub, created on first use."""
    state = request.app.state
    hub: StreamHub | None = getattr(state, "event_hub", None)
    if hub is None:
        settings: Settings = state.settings
        hub = StreamHub(
            lambda: state.sessionmaker,
            poll=settings.events_stream_poll_interval,
            buffer=settings.events_stream_buffer,
        )
        state.event_hub = hub
    return hub


def sse(ev: StoredEvent) -> bytes:
    """One event in Server-Sent Events framing."""
    data = orjson.dumps(ev.event).decode()
    return f"id: {ev.cursor}\nevent: {ev.type}\ndata: {data}\n\n".encode()


async def _filter_for(
    session: AsyncSession,
    principal: Principal,
    types: list[str],
    chargepoint_ids: list[str],
    location_ids: list[str],
) -> StreamFilter:
    bad = [t for t in types if not valid_subscription(t)]
    if bad:
        raise Unprocessable("query.type", f"unknown event types: {', '.join(bad)}")
    tags: frozenset[str] | None = None
    if principal.is_driver:
        rows = await session.scalars(
            select(IdTag.id_token).where(IdTag.user_id == principal.user_id)
        )
        tags = frozenset(rows)
    return StreamFilter(types, chargepoint_ids, location_ids, tags)


async def _events(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: StreamHub,
    stream_filter: StreamFilter,
    resume: Cursor | None,
    heartbeat: float,
) -> AsyncIterator[bytes]:
    async with hub.subscribe(stream_filter) as sub:
        yield b": connected\n\n"
        last = resume
        if resume is not None:
            async for chunk, cursor in _catch_up(sessionmaker, sub, resume):
                last = cursor
                yield chunk
        async for chunk in _live(sub, last, heartbeat):
            yield chunk


async def _catch_up(
    sessionmaker: async_sessionmaker[AsyncSession], sub: Subscriber, cursor: Cursor
) -> AsyncIterator[tuple[bytes, Cursor]]:
    """The stored events after `cursor` (the live ones queue up meanwhile)."""
    async with sessionmaker() as session:
        first = await store.oldest(session)
    if first is not None and cursor < first:
        # Events after the client's cursor were pruned: say so, then go on.
        yield (
            GAP,
            cursor,
        )
    while True:
        async with sessionmaker() as session:
            events = await store.read_after(session, cursor, 500)
        for ev in events:
            cursor = ev.cursor
            if sub.filter.takes(ev):
                yield sse(ev), cursor
        if len(events) < 500:
            return


async def _live(sub: Subscriber, last: Cursor | None, heartbeat: float) -> AsyncIterator[bytes]:
    cut = asyncio.ensure_future(sub.cut.wait())
    try:
        while True:
            get = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait(
                {get, cut}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            if get not in done:
                get.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await get
            if get in done:
                ev = get.result()
                if last is not None and ev.cursor <= last:
                    continue  # sent by the catch-up already
                last = ev.cursor
                yield sse(ev)
            elif cut in done:
                yield CUT
                return
            else:
                yield b": heartbeat\n\n"
    finally:
        cut.cancel()


@router.get(
    "/stream",
    summary="Server-Sent Events stream of public events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
        **error_responses(401, 422),
    },
)
async def stream(
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    type: Annotated[
        list[str] | None, Query(max_length=100, description="Event types, `family.*` or `*`.")
    ] = None,
    chargepoint_id: Annotated[list[str] | None, Query(max_length=1000)] = None,
    location_id: Annotated[list[str] | None, Query(max_length=1000)] = None,
    since: Annotated[
        str | None, Query(max_length=64, description="A previous event's `id` (as Last-Event-ID).")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Events as they are committed: `id` (resume with the `Last-Event-ID` header or
    `since`, within CSMS_EVENTS_RETENTION_HOURS), `event` (the type), `data` (the event).
    A driver sees only events about their own id tags. Comments every
    CSMS_EVENTS_STREAM_HEARTBEAT seconds keep proxies from closing an idle stream; a client
    too slow to keep up gets `event: cut` and the stream ends."""
    settings: Settings = request.app.state.settings
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    resume_id = last_event_id or since
    resume: Cursor | None = None
    if resume_id:
        resume = store.parse_cursor(resume_id)
        if resume is None:
            raise Unprocessable("header.last-event-id", "not an event id of this stream")
    stream_filter = await _filter_for(
        session, principal, type or [], chargepoint_id or [], location_id or []
    )
    # The request's session (authentication) would hold its connection as long as the
    # stream lasts: a hundred streams would empty the pool. The stream reads through the hub.
    await session.close()
    headers: dict[str, Any] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    body = _events(
        sessionmaker, hub_of(request), stream_filter, resume, settings.events_stream_heartbeat
    )
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
