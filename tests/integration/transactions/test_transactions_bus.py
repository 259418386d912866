"""The transactions service's `setup` consuming the real broker: an RPC StartTransaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.transactions.main import setup
from shared.bus import Bus
from shared.bus.topology import TRANSACTIONS_QUEUE, UPSTREAM, upstream_key
from shared.envelope import Kind
from shared.events.outbox import THROTTLE_MEMORY
from shared.health import HealthServer
from shared.service import ServiceContext
from shared.settings import Settings
from tests.factories import Sql
from tests.fixtures.bus import BusFactory
from tests.patience import PATIENCE, eventually

from .helpers import call

pytestmark = pytest.mark.integration


@pytest.fixture
def service_settings() -> Settings:
    """The settings of the service under test (a test may parametrize its own)."""
    return Settings()


@pytest.fixture
async def service(
    amqp_url: str,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    bus: Bus,
    service_settings: Settings,
) -> AsyncIterator[ServiceContext]:
    """The transactions consumer started in-process, as `csms transactions` does."""
    ctx = ServiceContext(
        name="transactions",
        settings=service_settings,
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


@pytest.mark.parametrize(
    "service_settings",
    # Throttles off and one message per batch (a batch keeps one event per throttle key):
    # every reading stored is an event, each message's in its own transaction.
    [Settings(events_update_interval=0, events_meter_values_interval=0, consumer_prefetch=1)],
    ids=["unthrottled"],
)
async def test_a_meter_values_resent_through_the_broker_is_one_event(
    chargepoint: str, sql: Sql, service: ServiceContext, bus_factory: BusFactory
) -> None:
    THROTTLE_MEMORY.last.clear()
    gateway = await bus_factory(name="test-gateway")
    key = upstream_key("ocpp1.6", "MeterValues")

    def meter(wh: int, minute: int) -> dict[str, object]:
        at = f"2025-03-01T12:{minute:02d}:00Z"
        return {
            "connectorId": 1,
            "meterValue": [{"timestamp": at, "sampledValue": [{"value": str(wh)}]}],
        }

    first = call("MeterValues", meter(100, 1))
    # The frame published twice (a gateway retrying its publish: the same envelope), then
    # resent by the charge point as a new CALL (new unique id, same readings); then a new
    # reading, consumed after them (one queue, in order).
    for env in (
        first,
        first,
        call("MeterValues", meter(100, 1)),
        call("MeterValues", meter(150, 2)),
    ):
        await gateway.publish(UPSTREAM, key, env)

    async def events() -> list[dict[str, Any]]:
        return await sql(
            "select data from event_outbox where chargepoint_id = :cp and type = 'meter_values'"
            " order by seq",
            cp=chargepoint,
        )

    async def two() -> bool:
        return len(await events()) >= 2

    await eventually(two)
    assert [e["data"]["meter_wh"] for e in await events()] == [100, 150]
