"""No event lost across a kill -9 of the webhooks service, mid-delivery and while it is down:
a real `csms webhooks` process, a real receiver."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from tests.factories import Sql
from tests.patience import eventually

from .conftest import Hooks, drop_webhooks_queue, emit, new_cp
from .receiver import Received

pytestmark = pytest.mark.integration


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


async def test_a_killed_webhooks_service_loses_no_event(
    hooks: Hooks, db_url: str, amqp_url: str, sql: Sql
) -> None:
    hang = asyncio.Event()

    async def first_hangs(got: Received) -> int:
        if len(hooks.at("/hook")) == 1:
            await hang.wait()  # the process is killed while this delivery is in flight
        return 200

    hooks.recv.answers["/hook"] = first_hangs
    await hooks.subscribe("/hook")
    cp = new_cp()
    try:
        async with webhooks_process(db_url, amqp_url) as proc:
            await emit(hooks.sessionmaker, cp, 3)
            await eventually(lambda: hooks.received("/hook", 1))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        hang.set()
        await emit(hooks.sessionmaker, cp, 3, first=3)  # while no webhooks service runs
        async with webhooks_process(db_url, amqp_url):

            async def all_delivered() -> bool:
                rows = await sql(
                    "select count(*) as n from webhook_delivery where status = 'delivered'"
                )
                return bool(rows[0]["n"] == 6)

            await eventually(all_delivered)
    finally:
        hang.set()
        await drop_webhooks_queue(amqp_url)
    got = [g.event for g in hooks.at("/hook")]
    assert sorted({e["data"]["type"] for e in got}) == [f"T{i}" for i in range(6)]
    # In order per charge point; the delivery in flight at the kill came again (same id).
    first_seen: dict[str, int] = {}
    for e in got:
        first_seen.setdefault(e["id"], e["seq"])
    assert list(first_seen.values()) == list(range(1, 7))
    assert len(got) >= 7
