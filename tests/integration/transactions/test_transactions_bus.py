"""The transactions service's `setup` consuming the real broker: an RPC StartTransaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.transactions.main import setup
from shared.bus import Bus
from shared.bus.topology import TRANSACTIONS_QUEUE, UPSTREAM, upstream_key
from shared.envelope import Kind
from shared.health import HealthServer
from shared.service import ServiceContext
from shared.settings import Settings
from tests.factories import Sql
from tests.fixtures.bus import BusFactory
from tests.patience import PATIENCE

from .helpers import call

pytestmark = pytest.mark.integration


@pytest.fixture
async def service(
    amqp_url: str,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    bus: Bus,
) -> AsyncIterator[ServiceContext]:
    """The transactions consumer started in-process, as `csms transactions` does."""
    ctx = ServiceContext(
        name="transactions",
        settings=Settings(),
        engine=db_engine,
        sessionmaker=db_sessionmaker,
        bus=bus,
        logger=logging.getLogger("services.transactions"),
        health=HealthServer(0),
        stopping=asyncio.Event(),
    )
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        # A queue left by an earlier run may hold stale messages: start from an empty one.
        with contextlib.suppress(Exception):
            await channel.queue_delete(TRANSACTIONS_QUEUE)
        await setup(ctx)
        yield ctx
        await bus.close(timeout=5)
        channel = await conn.channel()
        await channel.queue_delete(TRANSACTIONS_QUEUE)
    finally:
        await conn.close()


async def test_rpc_start_transaction_through_the_broker(
    chargepoint: str, sql: Sql, service: ServiceContext, bus_factory: BusFactory
) -> None:
    gateway = await bus_factory(name="test-gateway")  # a second connection plays the gateway
    payload = {
        "connectorId": 1,
        "idTag": "TAG-1",
        "meterStart": 10,
        "timestamp": "2025-03-01T12:00:00Z",
    }
    request = call("StartTransaction", payload)
    reply = await gateway.rpc(
        UPSTREAM, upstream_key("ocpp1.6", "StartTransaction"), request, timeout=PATIENCE
    )
    assert reply.kind is Kind.RESULT
    assert reply.payload["idTagInfo"] == {"status": "Invalid"}
    [row] = await sql("select transaction_id, start_message_id from transaction")
    assert reply.payload["transactionId"] == row["transaction_id"]
    assert row["start_message_id"] == request.correlation_id

    # The charge point repeats it: same content, a new frame -> the same transaction.
    again = await gateway.rpc(
        UPSTREAM,
        upstream_key("ocpp1.6", "StartTransaction"),
        call("StartTransaction", payload),
        timeout=PATIENCE,
    )
    assert again.payload["transactionId"] == row["transaction_id"]
    assert await sql("select count(*) as n from transaction") == [{"n": 1}]
