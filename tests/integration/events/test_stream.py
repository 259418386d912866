"""The SSE stream over a real HTTP server: filters, driver scoping, resume with
Last-Event-ID, heartbeats; the hub cuts a client that falls behind."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.events.hub import StreamFilter, StreamHub
from shared.db.models import IdTag
from shared.events.outbox import PublicEvent, stage
from tests.patience import PATIENCE, eventually

from .receiver import serve

pytestmark = pytest.mark.integration

Actor = Any


@dataclass
class Sse:
    """What a stream reader collected."""

    events: list[dict[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


async def _read(response: httpx.Response, into: Sse) -> None:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            into.comments.append(line[1:].strip())
        elif line == "":
            if "data" in fields:
                into.names.append(fields.get("event", "message"))
                if "id" in fields:
                    into.ids.append(fields["id"])
                into.events.append(orjson.loads(fields["data"]))
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


@pytest.fixture
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve(app) as url:
        yield url


class Stream:
    """An open stream read in the background."""

    def __init__(self, base: str, actor: Actor, params: Any, headers: dict[str, str] | None = None):
        self.base, self.actor, self.params = base, actor, params
        self.headers = {**actor.headers, **(headers or {})}
        self.got = Sse()
        self._task: asyncio.Task[None] | None = None
        self.status: int | None = None
        self._connected = asyncio.Event()

    async def __aenter__(self) -> Stream:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(PATIENCE):
            await self._connected.wait()
        return self

    async def _run(self) -> None:
        async with (
            httpx.AsyncClient(base_url=self.base, timeout=PATIENCE) as client,
            client.stream(
                "GET", "/api/v1/events/stream", params=self.params, headers=self.headers
            ) as response,
        ):
            self.status = response.status_code
            self._connected.set()
            if response.status_code == 200:
                await _read(response, self.got)

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self, n: int) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(self.got.events) >= n

        await eventually(enough)
        return self.got.events


async def _emit(sessionmaker: async_sessionmaker[AsyncSession], events: list[PublicEvent]) -> None:
    async with sessionmaker() as session, session.begin():
        await stage(session, events)


def _sec(cp: str, i: int) -> PublicEvent:
    return PublicEvent("security.event", {"type": f"T{i}"}, cp)


async def test_the_stream_filters_and_resumes_after_last_event_id(
    base_url: str, admin: Actor, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    a, b = (f"CP-SSE-{uuid.uuid4().hex[:8]}" for _ in range(2))
    params = {"type": "security.event", "chargepoint_id": a}
    async with Stream(base_url, admin, params) as first:
        assert first.status == 200
        await eventually(lambda: _has_comment(first, "connected"))
        await _emit(db_sessionmaker, [_sec(a, 0), _sec(b, 0)])
        await _emit(
            db_sessionmaker,
            [PublicEvent("connector.status_changed", {"connector_id": 1, "status": "Faulted"}, a)],
        )
        await _emit(db_sessionmaker, [_sec(a, 1), _sec(a, 2)])
        got = await first.wait(3)
        assert [e["data"]["type"] for e in got] == ["T0", "T1", "T2"]
        assert {e["chargepoint_id"] for e in got} == {a}
        assert first.got.names == ["security.event"] * 3
        resume_at = first.got.ids[1]
    await _emit(db_sessionmaker, [_sec(a, 3), _sec(b, 1), _sec(a, 4)])
    async with Stream(base_url, admin, params, {"Last-Event-ID": resume_at}) as second:
        got = await second.wait(3)
        await _emit(db_sessionmaker, [_sec(a, 5)])
        got = await second.wait(4)
        assert [e["data"]["type"] for e in got] == ["T2", "T3", "T4", "T5"]
        assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)


async def _has_comment(stream: Stream, text: str) -> bool:
    return text in stream.got.comments


async def test_a_quiet_stream_gets_heartbeats(base_url: str, admin: Actor) -> None:
    async with Stream(base_url, admin, {"chargepoint_id": "CP-SSE-nobody"}) as stream:
        await eventually(lambda: _has_comment(stream, "heartbeat"))


async def test_a_driver_sees_only_events_of_their_own_id_tags(
    base_url: str,
    driver: Actor,
    admin: Actor,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as session, session.begin():
        session.add(IdTag(id_token="TAG-DRIVER", user_id=driver.id))
    cp = f"CP-SSE-{uuid.uuid4().hex[:8]}"

    def started(tx: int, tag: str) -> PublicEvent:
        return PublicEvent(
            "transaction.started", {"transaction_id": tx, "id_tag": tag}, cp, id_tag=tag
        )

    async with Stream(base_url, driver, {}) as mine, Stream(base_url, admin, {}) as everyone:
        await eventually(lambda: _has_comment(mine, "connected"))
        await _emit(db_sessionmaker, [started(1, "TAG-OTHER"), _sec(cp, 0)])
        await _emit(db_sessionmaker, [started(2, "TAG-DRIVER")])
        await everyone.wait(3)
        got = await mine.wait(1)
        await _emit(db_sessionmaker, [started(3, "TAG-DRIVER")])
        got = await mine.wait(2)
        assert [e["data"]["transaction_id"] for e in got] == [2, 3]


async def test_the_stream_refuses_unknown_types_and_bad_ids(base_url: str, admin: Actor) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        r = await client.get(
            "/api/v1/events/stream", params={"type": "nope"}, headers=admin.headers
        )
        assert r.status_code == 422
        r = await client.get(
            "/api/v1/events/stream",
            headers={**admin.headers, "Last-Event-ID": "garbage"},
        )
        assert r.status_code == 422
        r = await client.get("/api/v1/events/stream")
        assert r.status_code == 401


async def test_the_hub_cuts_a_subscriber_that_falls_behind(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    hub = StreamHub(lambda: db_sessionmaker, poll=0.05, buffer=2)
    cp = f"CP-SSE-{uuid.uuid4().hex[:8]}"
    try:
        async with (
            hub.subscribe(StreamFilter(chargepoint_ids=[cp])) as slow,
            hub.subscribe(StreamFilter(chargepoint_ids=[cp]), buffer=100) as reader,
        ):
            got: list[Any] = []

            async def drain() -> None:
                while True:
                    got.append(await reader.queue.get())

            task = asyncio.create_task(drain())
            await _emit(db_sessionmaker, [_sec(cp, i) for i in range(5)])
            await eventually(lambda: _is_set(slow.cut))
            await eventually(lambda: _len_at_least(got, 5))
            task.cancel()
            assert slow not in hub.subscribers
            assert reader in hub.subscribers
    finally:
        await hub.stop()


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


async def _len_at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def test_more_streams_than_database_connections_all_get_their_events(
    base_url: str, admin: Actor, db_sessionmaker: async_sessionmaker[AsyncSession], db_engine: Any
) -> None:
    """A stream holds no database connection: 20 streams on a pool of 5 + 10."""
    many = db_engine.pool.size() + db_engine.pool._max_overflow + 5
    cp = f"CP-SSE-{uuid.uuid4().hex[:8]}"
    streams = [Stream(base_url, admin, {"chargepoint_id": cp}) for _ in range(many)]
    async with contextlib.AsyncExitStack() as stack:
        for stream in streams:
            await stack.enter_async_context(stream)
        for stream in streams:
            await eventually(lambda s=stream: _has_comment(s, "connected"))  # type: ignore[misc]
        await _emit(db_sessionmaker, [_sec(cp, 0)])
        for stream in streams:
            assert [e["data"]["type"] for e in await stream.wait(1)] == ["T0"]
