"""Dead letters of the real services: nothing a handler cannot use is dropped silently, and
each dead letter says why (issue 10, items 2, 3 and 9).

Envelopes are published straight to the services' queues (as a broken gateway, a tool or a
replay would), bypassing the gateway's validation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.registry.main import setup as registry_setup
from services.transactions.main import setup as transactions_setup
from shared.bus import (
    DATA_ERROR,
    DEAD_LETTER,
    DEATH_DETAIL,
    DEATH_REASON,
    HANDLER_REFUSED,
    ORIGINAL_QUEUE,
    ORIGINAL_ROUTING_KEY,
    Bus,
)
from shared.bus.topology import REGISTRY_QUEUE, TRANSACTIONS_QUEUE, UPSTREAM, upstream_key
from shared.envelope import Envelope, Kind
from shared.health import HealthServer
from shared.service import ServiceContext
from shared.settings import Settings
from tests.factories import Sql
from tests.fixtures.bus import BusFactory, NameFactory
from tests.patience import PATIENCE

pytestmark = pytest.mark.integration

Setup = Callable[[ServiceContext], Awaitable[None]]


async def _delete_queues(amqp_url: str, prefix: str) -> None:
    conn = await aio_pika.connect(amqp_url)
    try:
        for suffix in ("", ".rpc", ".command-effects"):
            channel = await conn.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(prefix + suffix)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def running(
    name: str,
    setup: Setup,
    queue: str,
    amqp_url: str,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Bus]:
    """A service consuming its queues in this process (fresh queues), as `csms <name>` does."""
    await _delete_queues(amqp_url, queue)
    settings = Settings(amqp_url=amqp_url)
    bus = Bus(amqp_url, name=f"test-{name}-{uuid.uuid4().hex[:6]}", prefetch=50)
    await bus.connect()
    ctx = ServiceContext(
        name=name,
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        bus=bus,
        logger=logging.getLogger(f"test.{name}"),
        health=HealthServer(0),
        stopping=asyncio.Event(),
    )
    try:
        await setup(ctx)
        yield bus
    finally:
        await ctx.shutdown()
        await bus.close(timeout=5)
        await _delete_queues(amqp_url, queue)


async def watch_dead_letters(bus: Bus, unique_name: NameFactory) -> AbstractQueue:
    queue = await bus.channel.declare_queue(unique_name("dlwatch"), durable=False)
    await queue.bind(DEAD_LETTER, "")
    return queue


async def dead_letter_of(
    watch: AbstractQueue, correlation_id: str, timeout: float = PATIENCE
) -> AbstractIncomingMessage:
    """The dead letter of the envelope with this correlation id."""
    deadline = time.monotonic() + timeout
    while True:
        message = await watch.get(no_ack=True, fail=False)
        if message is None:
            if time.monotonic() > deadline:
                pytest.fail(f"no dead letter for {correlation_id}")
            await asyncio.sleep(0.05)
            continue
        with contextlib.suppress(Exception):
            if Envelope.from_bytes(message.body).correlation_id == correlation_id:
                return message


async def wait_for_rows(sql: Sql, query: str, count: int, **params: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + PATIENCE
    while True:
        rows = await sql(query, **params)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


def call(cp: str, action: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=cp,
        ocpp_version="ocpp1.6",
        unique_id=uuid.uuid4().hex[:12],
        correlation_id=uuid.uuid4().hex,
        node_id="gw-test",
    )


def status(connector: int, info: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connector,
        "status": "Available",
        "errorCode": "NoError",
        "timestamp": "2025-03-01T12:00:00Z",
    }
    if info is not None:
        payload["info"] = info
    return payload


@pytest.fixture
def cp() -> str:
    return f"CP-DL-{uuid.uuid4().hex[:10]}"


async def test_data_error_is_dead_lettered_at_once_with_one_log_line(
    amqp_url: str,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    bus_factory: BusFactory,
    unique_name: NameFactory,
    sql: Sql,
    cp: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A NUL in a text field (Postgres: SQLSTATE 22021/22P05, class 22) in the middle of a
    batch: the others are stored, the culprit goes to the dead-letter queue at once (no
    requeue, no six retries) with reason `data-error` and ONE log line, no traceback."""
    gateway = await bus_factory(name=unique_name("gw"))
    watch = await watch_dead_letters(gateway, unique_name)
    key = upstream_key("ocpp1.6", "StatusNotification")
    good = [call(cp, "StatusNotification", status(n)) for n in (1, 3)]
    bad = call(cp, "StatusNotification", status(2, info="bad\u0000info"))
    async with running(
        "registry", registry_setup, REGISTRY_QUEUE, amqp_url, db_engine, db_sessionmaker
    ) as service:
        with caplog.at_level(logging.INFO):
            await asyncio.gather(
                *(gateway.publish(UPSTREAM, key, e) for e in (good[0], bad, good[1]))
            )
            dead = await dead_letter_of(watch, bad.correlation_id or "")
            rows = await wait_for_rows(
                sql,
                "select connectorid from status_notification where chargepoint_id = :cp",
                2,
                cp=cp,
            )
        assert service.metrics.requeued == 0
    assert sorted(r["connectorid"] for r in rows) == [1, 3]
    assert dead.headers[DEATH_REASON] == DATA_ERROR
    assert str(dead.headers[DEATH_DETAIL]).startswith("SQLSTATE 22")
    assert dead.headers[ORIGINAL_QUEUE] == REGISTRY_QUEUE
    assert dead.headers[ORIGINAL_ROUTING_KEY] == key
    assert Envelope.from_bytes(dead.body) == bad
    # Our own loggers only: the broker client libraries log for other connections of the
    # process (e.g. an app built by another test retrying a broker that is not there).
    loud = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("shared.", "services."))
    ]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    assert loud[0].exc_info is None and DATA_ERROR in loud[0].getMessage()


async def test_unusable_meter_values_are_dead_lettered_and_logged_as_answered(
    amqp_url: str,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    bus_factory: BusFactory,
    unique_name: NameFactory,
    sql: Sql,
    cp: str,
) -> None:
    """MeterValues with `connectorId: "abc"`: refused at parsing (TypeConstraintViolation), but
    the gateway already answered this fire-and-forget CALL. It used to be acked and gone;
    now it is a dead letter with the refusal as its reason, and the message log shows what
    went on the wire: the CALL and the gateway's fixed CALLRESULT, no CALLERROR."""
    await sql(
        "insert into chargepoint (chargepoint_id, registration_status) values (:cp, 'Accepted')",
        cp=cp,
    )
    gateway = await bus_factory(name=unique_name("gw"))
    watch = await watch_dead_letters(gateway, unique_name)
    key = upstream_key("ocpp1.6", "MeterValues")
    bad = call(
        cp,
        "MeterValues",
        {
            "connectorId": "abc",
            "meterValue": [
                {"timestamp": "2025-03-01T12:00:00Z", "sampledValue": [{"value": "10"}]}
            ],
        },
    )
    async with running(
        "transactions",
        transactions_setup,
        TRANSACTIONS_QUEUE,
        amqp_url,
        db_engine,
        db_sessionmaker,
    ):
        await gateway.publish(UPSTREAM, key, bad)
        dead = await dead_letter_of(watch, bad.correlation_id or "")
    assert dead.headers[DEATH_REASON] == HANDLER_REFUSED
    assert str(dead.headers[DEATH_DETAIL]).startswith(
        "TypeConstraintViolation: payload.connectorId"
    )
    assert dead.headers[ORIGINAL_QUEUE] == TRANSACTIONS_QUEUE
    logged = await wait_for_rows(
        sql,
        "select direction, message_type, error_code, payload from ocpp_message"
        " where chargepoint_id = :cp order by direction",
        2,
        cp=cp,
    )
    assert [(r["direction"], r["message_type"], r["error_code"]) for r in logged] == [
        ("in", 2, None),
        ("out", 3, None),
    ]
    assert logged[1]["payload"] == {}
