"""Fixtures of the event tests: the API fixtures (tests/integration/api), a webhooks service
in this process, a real HTTP receiver (waiting: tests/patience.eventually)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.webhooks.main import setup
from shared.bus import Bus
from shared.bus.topology import WEBHOOKS_QUEUE
from shared.health import HealthServer
from shared.service import ServiceContext
from shared.settings import Settings
from tests.integration.api.conftest import (  # noqa: F401 - fixtures
    admin,
    app,
    built_app,
    client,
    driver,
    make_settings,
    operator,
    user_password_hash,
)

from .receiver import Receiver, serve


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
