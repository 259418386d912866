"""No event lost across a kill -9 of the webhooks service, mid-delivery and while it is down:
a real `csms webhooks` process, a real receiver."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus.topology import WEBHOOKS_QUEUE
from shared.events.outbox import PublicEvent, stage
from tests.factories import Sql
from tests.patience import eventually

from .receiver import Received, Receiver

pytestmark = pytest.mark.integration

Actor = Any


@contextlib.asynccontextmanager
async def webhooks_process(db_url: str, amqp_url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {
        **os.environ,
        "CSMS_ENV": "test",
        "CSMS_DATABASE_URL": db_url,
        "CSMS_AMQP_URL": amqp_url,
        "CSMS_WEBHOOKS_HEALTH_PORT": "0",
        "CSMS_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "CSMS_WEBHOOKS_TIMEOUT": "1",
        "CSMS_WEBHOOKS_RETRY_BASE": "0.2",
        "CSMS_WEBHOOKS_RETRY_MAX_DELAY": "1",
        "CSMS_EVENTS_RELAY_INTERVAL": "0.05",
        "CSMS_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "webhooks", env=env
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()


async def _emit(
    sessionmaker: async_sessionmaker[AsyncSession], cp: str, first: int, n: int
) -> None:
    async with sessionmaker() as session, session.begin():
        await stage(
            session,
            [PublicEvent("security.event", {"type": f"T{first + i}"}, cp) for i in range(n)],
        )


async def test_a_killed_webhooks_service_loses_no_event(
    client: httpx.AsyncClient,
    admin: Actor,
    receiver: tuple[Receiver, str],
    db_url: str,
    amqp_url: str,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    sql: Sql,
) -> None:
    recv, base = receiver
    hang = asyncio.Event()

    async def first_hangs(got: Received) -> int:
        if len(recv.at("/hook")) == 1:
            await hang.wait()  # the process is killed while this delivery is in flight
        return 200

    recv.answers["/hook"] = first_hangs
    r = await client.post("/api/v1/webhooks", json={"url": f"{base}/hook"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    cp = f"CP-WH-{uuid.uuid4().hex[:8]}"
    try:
        async with webhooks_process(db_url, amqp_url) as proc:
            await _emit(db_sessionmaker, cp, 0, 3)
            await eventually(lambda: _count(recv, 1))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        hang.set()
        await _emit(db_sessionmaker, cp, 3, 3)  # while no webhooks service runs
        async with webhooks_process(db_url, amqp_url):

            async def all_delivered() -> bool:
                rows = await sql(
                    "select count(*) as n from webhook_delivery where status = 'delivered'"
                )
                return bool(rows[0]["n"] == 6)

            await eventually(all_delivered)
    finally:
        hang.set()
        await _drop_queue(amqp_url)
    got = [g.event for g in recv.at("/hook")]
    assert sorted({e["data"]["type"] for e in got}) == [f"T{i}" for i in range(6)]
    # In order per charge point; the delivery in flight at the kill came again (same id).
    first_seen: dict[str, int] = {}
    for e in got:
        first_seen.setdefault(e["id"], e["seq"])
    assert list(first_seen.values()) == list(range(1, 7))
    assert len(got) >= 7


async def _count(recv: Receiver, n: int) -> bool:
    return len(recv.at("/hook")) >= n


async def _drop_queue(amqp_url: str) -> None:
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        with contextlib.suppress(Exception):
            await channel.queue_delete(WEBHOOKS_QUEUE)
    finally:
        await conn.close()
