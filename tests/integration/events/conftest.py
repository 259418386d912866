"""Fixtures of the event tests: the API fixtures (tests/integration/api), a webhooks service
in this process, a real HTTP receiver, and `hooks`: all of them as one harness for the
webhook tests (waiting: tests/patience.eventually)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.webhooks.main import setup
from shared.bus import Bus
from shared.bus.topology import WEBHOOKS_QUEUE
from shared.events.outbox import PublicEvent, stage
from shared.health import HealthServer
from shared.service import ServiceContext
from shared.settings import Settings
from tests.integration.api.conftest import (  # noqa: F401 - fixtures
    Actor,
    admin,
    app,
    built_app,
    client,
    driver,
    make_settings,
    operator,
    user_password_hash,
)

from .receiver import Received, Receiver, serve


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    """The API's test settings, webhook targets on 127.0.0.1 allowed (the receiver)."""
    return make_settings(db_url, tmp_path / "media").model_copy(
        update={
            "webhooks_allow_private_targets": True,
            "events_stream_poll_interval": 0.05,
            "events_stream_heartbeat": 0.5,
        }
    )


WebhooksFactory = Callable[..., Awaitable[ServiceContext]]


def webhook_settings(amqp_url: str, **overrides: Any) -> Settings:
    """Fast settings for a webhooks service under test (private targets allowed)."""
    values: dict[str, Any] = {
        "amqp_url": amqp_url,
        "webhooks_allow_private_targets": True,
        "webhooks_timeout": 2.0,
        "webhooks_retry_base": 0.1,
        "webhooks_retry_max_delay": 0.5,
        "events_relay_interval": 0.05,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
async def webhooks(
    amqp_url: str, db_engine: AsyncEngine, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[WebhooksFactory]:
    """Start the webhooks service (relay, intake, deliverer) in this process."""
    started: list[tuple[ServiceContext, Bus]] = []

    async def start(**overrides: Any) -> ServiceContext:
        settings = webhook_settings(amqp_url, **overrides)
        bus = Bus(amqp_url, name="test-webhooks", prefetch=settings.consumer_prefetch)
        await bus.connect()
        ctx = ServiceContext(
            name="webhooks",
            settings=settings,
            engine=db_engine,
            sessionmaker=db_sessionmaker,
            bus=bus,
            logger=logging.getLogger("test.webhooks"),
            health=HealthServer(0),
            stopping=asyncio.Event(),
        )
        await setup(ctx)
        started.append((ctx, bus))
        return ctx

    yield start
    for ctx, bus in started:
        await ctx.shutdown()
        await bus.close(timeout=5)
    await drop_webhooks_queue(amqp_url)


async def drop_webhooks_queue(amqp_url: str) -> None:
    """Delete `csms.webhooks` (a test's webhooks service leaves it to the next one)."""
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        with contextlib.suppress(Exception):
            await channel.queue_delete(WEBHOOKS_QUEUE)
    finally:
        await conn.close()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """A webhook receiver on a free port: (recorder, base URL)."""
    recv = Receiver()
    async with serve(recv.app()) as url:
        yield recv, url


def new_cp(prefix: str = "CP-WH") -> str:
    """A charge point id of its own (tests share the database)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def emit(
    sessionmaker: async_sessionmaker[AsyncSession],
    cp: str | None,
    n: int = 1,
    type_: str = "security.event",
    first: int = 0,
) -> None:
    """Commit `n` public events of `cp` (data `{"type": "T<i>"}` from `first`)."""
    async with sessionmaker() as session, session.begin():
        await stage(session, [PublicEvent(type_, {"type": f"T{first + i}"}, cp) for i in range(n)])


def status(code: int) -> Callable[[Received], Awaitable[int]]:
    """A receiver answer: always `code`."""

    async def answer(_: Received) -> int:
        return code

    return answer


@dataclass
class Hooks:
    """A webhook test's world: the API as an admin, a real receiver at `base`, the webhooks
    service (`start`), the event outbox (`emit`)."""

    client: httpx.AsyncClient
    admin: Actor
    recv: Receiver
    base: str
    sessionmaker: async_sessionmaker[AsyncSession]
    start: WebhooksFactory

    async def subscribe(self, path: str, **body: Any) -> dict[str, Any]:
        """A new endpoint for the receiver's `path` (the 201 answer, with its secret)."""
        r = await self.client.post(
            "/api/v1/webhooks",
            json={"url": f"{self.base}{path}", **body},
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def emit(self, cp: str | None, n: int = 1, type_: str = "security.event") -> None:
        await emit(self.sessionmaker, cp, n, type_)

    def answer(self, path: str, code: int) -> None:
        """The receiver answers `code` at `path` from now on."""
        self.recv.answers[path] = status(code)

    def at(self, path: str) -> list[Received]:
        return self.recv.at(path)

    async def received(self, path: str, n: int) -> list[Received]:
        """What `path` got, once it is at least `n` requests (empty before: for eventually)."""
        got = self.recv.at(path)
        return got if len(got) >= n else []

    async def get(self, url: str, actor: Actor | None = None, **params: Any) -> Any:
        r = await self.client.get(url, params=params, headers=(actor or self.admin).headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def deliveries(self, hook: dict[str, Any], **params: Any) -> dict[str, Any]:
        """The endpoint's delivery log page."""
        page: dict[str, Any] = await self.get(f"/api/v1/webhooks/{hook['id']}/deliveries", **params)
        return page

    async def newest_delivery(self, hook: dict[str, Any], status: str) -> dict[str, Any] | None:
        """The endpoint's newest delivery if it is in `status` (for eventually)."""
        items = (await self.deliveries(hook))["items"]
        return items[0] if items and items[0]["status"] == status else None

    async def dead_letters(
        self, hook: dict[str, Any], actor: Actor | None = None, **params: Any
    ) -> dict[str, Any]:
        """The endpoint's dead-letter page."""
        url = f"/api/v1/webhooks/{hook['id']}/dead-letters"
        page: dict[str, Any] = await self.get(url, actor, **params)
        return page


@pytest.fixture
def hooks(
    client: httpx.AsyncClient,  # noqa: F811 - the fixture
    admin: Actor,  # noqa: F811 - the fixture
    webhooks: WebhooksFactory,
    receiver: tuple[Receiver, str],
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> Hooks:
    """The webhook tests' harness (the webhooks service is started by the test: `start`)."""
    recv, base = receiver
    return Hooks(client, admin, recv, base, db_sessionmaker, webhooks)
