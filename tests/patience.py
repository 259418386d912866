"""How long a test waits for what should happen: a failure detector, never a speed check.

Generous on purpose: on a busy 2-core machine (CI, a developer's laptop running builds) a
broker round trip or a process start can take seconds. A test waits *up to* PATIENCE for an
outcome and asserts the outcome; it never asserts how long something took (durations are
figures of `make bench`). Tests about a timeout make the other party silent and give the
timeout under test a short value of its own.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

PATIENCE = 60.0
"""Seconds a test waits for a condition, an answer or a process before it fails."""


async def eventually(
    check: Callable[[], Any], timeout: float = PATIENCE, what: str = "condition"
) -> Any:
    """Poll `check` (a plain function, or one returning an awaitable: a coroutine function)
    until it returns something truthy, and return that value; AssertionError after `timeout`
    seconds, naming the last value seen. The one polling helper of the tests."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        asynchronous = inspect.isawaitable(value)
        if asynchronous:
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last: {value!r})")
        # An awaited check is usually a query or a request: poll those less often.
        await asyncio.sleep(0.05 if asynchronous else 0.02)


async def wait_for(condition: Callable[[], bool], timeout: float = PATIENCE) -> None:
    """Poll `condition` until it holds; AssertionError after `timeout` seconds."""
    await eventually(condition, timeout)


async def wait_for_async(
    probe: Callable[[], Awaitable[object]], expected: object, timeout: float = PATIENCE
) -> None:
    """Poll the coroutine `probe()` until it returns `expected`; AssertionError after
    `timeout` seconds, naming the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (last := await probe()) != expected:
        if loop.time() > deadline:
            raise AssertionError(f"expected {expected!r} within {timeout}s, last {last!r}")
        await asyncio.sleep(0.05)
