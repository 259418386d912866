"""The registry as it runs: `setup` on a real Bus, RPC BootNotification over `ocpp.upstream`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.registry.main import setup
from shared.bus import Bus
from shared.bus.topology import REGISTRY_QUEUE, UPSTREAM, upstream_key
from shared.envelope import Kind
from shared.health import HealthServer
from shared.service import ServiceContext
from shared.settings import Settings
from tests.factories import Sql
from tests.patience import PATIENCE

from .helpers import call

pytestmark = pytest.mark.integration


@pytest.fixture
async def registry(
    amqp_url: str,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[ServiceContext]:
    """The registry consuming `csms.registry` in this process, as `csms registry` would."""
    settings = Settings(amqp_url=amqp_url, heartbeat_interval=90)
    bus = Bus(amqp_url, name="test-registry", prefetch=settings.consumer_prefetch)
    await bus.connect()
    ctx = ServiceContext(
        name="registry",
        settings=settings,
        engine=db_engine,
        sessionmaker=db_sessionmaker,
        bus=bus,
        logger=logging.getLogger("test.registry"),
        health=HealthServer(0),
        stopping=asyncio.Event(),
    )
    try:
        await setup(ctx)
        yield ctx
    finally:
        await ctx.shutdown()
        await bus.close(timeout=5)
        # Leave no durable queue collecting other tests' upstream messages (unless in use).
        conn = await aio_pika.connect(amqp_url)
        try:
            channel = await conn.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(REGISTRY_QUEUE, if_unused=True)
        finally:
            await conn.close()


async def test_boot_notification_rpc_through_the_broker(
    registry: ServiceContext, bus: Bus, sql: Sql, cp: str
) -> None:
    env = call(cp, "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X"})
    reply = await bus.rpc(
        UPSTREAM, upstream_key("ocpp1.6", "BootNotification"), env, timeout=PATIENCE
    )
    assert reply.kind is Kind.RESULT
    assert reply.payload["status"] == "Pending"
    assert reply.payload["interval"] == 90
    assert reply.chargepoint_id == cp
    [row] = await sql(
        "select registration_status, chargepoint_vendor from chargepoint"
        " where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {"registration_status": "Pending", "chargepoint_vendor": "Acme"}
    logged = await sql("select 1 from ocpp_message where message_id = :m", m=env.correlation_id)
    assert len(logged) == 2


async def test_fire_and_forget_heartbeat_through_the_broker(
    registry: ServiceContext, bus: Bus, sql: Sql, cp: str
) -> None:
    env = call(cp, "Heartbeat", {})
    await bus.publish(UPSTREAM, upstream_key("ocpp1.6", "Heartbeat"), env, mandatory=True)
    async with asyncio.timeout(PATIENCE):  # polls the database: no event to wait on
        while True:
            if await sql("select 1 from heartbeat where message_id = :m", m=env.correlation_id):
                break
            await asyncio.sleep(0.05)
