"""A bus whose first connection attempt fails closes what it opened (no broker needed).

aio_pika's Connection.__del__ schedules `close()` on the current loop; on a loop that has
stopped (an app shut down while still retrying), that coroutine is never awaited and Python
warns at garbage collection, long after and far away (it failed an unrelated test).
"""

from __future__ import annotations

import asyncio
import gc

import aio_pika
import pytest

from shared.bus import Bus


def test_a_failed_first_connect_leaves_no_open_connection_behind() -> None:
    async def attempt() -> None:
        bus = Bus("amqp://guest:guest@127.0.0.1:1/", name="never-connects")
        with pytest.raises(ConnectionError):
            await bus.connect()

    asyncio.run(attempt())
    gc.collect()
    left_open = [
        o for o in gc.get_objects() if isinstance(o, aio_pika.RobustConnection) and not o.is_closed
    ]
    assert left_open == []
