"""How long a test waits for what should happen: a failure detector, never a speed check.

Generous on purpose: on a busy 2-core machine (CI, a developer's laptop running builds) a
broker round trip or a process start can take seconds. A test waits *up to* PATIENCE for an
outcome and asserts the outcome; it never asserts how long something took (durations are
figures of `make bench`). Tests about a timeout make the other party silent and give the
timeout under test a short value of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

PATIENCE = 60.0
"""Seconds a test waits for a condition, an answer or a process before it fails."""


async def wait_for(condition: Callable[[], bool], timeout: float = PATIENCE) -> None:
    """Poll `condition` until it holds; AssertionError after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)
