"""The load of each phase. Every function fills a PhaseResult's latencies, errors and wall
time; the caller measures CPU around it. Nothing here raises on a slow or failed answer."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.chargepoint import BOOT, CallFailed, SimChargePoint, meter_values_payload
from bench.report import PhaseResult

Count = Callable[[], Awaitable[int]]


async def connect_all(cps: list[SimChargePoint], result: PhaseResult, chunk: int = 500) -> None:
    """Connect charge points in chunks; a refused one is counted and left unconnected."""
    for i in range(0, len(cps), chunk):
        outcomes = await asyncio.gather(
            *(cp.connect() for cp in cps[i : i + chunk]), return_exceptions=True
        )
        for out in outcomes:
            if isinstance(out, CallFailed):
                result.errors[out.code] += 1
            elif isinstance(out, BaseException):
                result.errors[type(out).__name__] += 1


async def close_all(cps: list[SimChargePoint]) -> None:
    await asyncio.gather(*(cp.close() for cp in cps))


async def boot_storm(url: str, n: int, result: PhaseResult) -> None:
    """n charge points open their websocket and boot at the same moment (a site after a power
    cut); the latency of each runs from its connect to its boot answer."""
    cps = [SimChargePoint(url, f"STORM-{n}-{i}") for i in range(n)]

    async def one(cp: SimChargePoint) -> None:
        start = time.perf_counter()
        try:
            await cp.connect()
        except CallFailed as exc:
            result.errors[exc.code] += 1
            return
        try:
            answer = await cp.call("BootNotification", BOOT)
        except CallFailed as exc:
            result.errors[exc.code] += 1
            return
        if answer.get("status") != "Accepted":
            result.errors[f"status {answer.get('status')}"] += 1
        else:
            result.latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one(cp) for cp in cps))
    result.wall = time.perf_counter() - start
    await close_all(cps)


async def sessions(url: str, prefix: str, n: int) -> list[tuple[SimChargePoint, int]]:
    """n connected, booted charge points each with a transaction started on connector 1."""
    setup = PhaseResult("setup")
    cps = [SimChargePoint(url, f"{prefix}-{i}") for i in range(n)]
    await connect_all(cps, setup)
    txs = await asyncio.gather(*(cp.start_transaction(f"BENCH-{i}") for i, cp in enumerate(cps)))
    return [(cp, tx) for cp, tx in zip(cps, txs, strict=True) if tx is not None]


async def wait_persisted(count: Count, target: int, limit: float) -> bool:
    """Wait until `count()` reaches target (False after `limit` seconds)."""
    deadline = time.perf_counter() + limit
    while await count() < target:
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def meter_values_closed(
    pairs: list[tuple[SimChargePoint, int]],
    m: int,
    result: PhaseResult,
    count: Count,
    persist_limit: float = 120.0,
) -> None:
    """Each charge point sends m MeterValues back to back; the wall time runs until every
    sampled value (2 per call) is in Postgres."""
    before = await count()

    async def one(cp: SimChargePoint, tx: int) -> None:
        for i in range(1, m + 1):
            await cp.timed(result, "MeterValues", meter_values_payload(tx, i))

    start = time.perf_counter()
    await asyncio.gather(*(one(cp, tx) for cp, tx in pairs))
    if not await wait_persisted(count, before + 2 * result.answered, persist_limit):
        result.errors["NotPersisted"] += 1
    result.wall = time.perf_counter() - start


async def meter_values_open(
    pairs: list[tuple[SimChargePoint, int]],
    rate: float,
    seconds: float,
    result: PhaseResult,
) -> None:
    """Each charge point sends one MeterValues every 1/rate seconds on a clock (a random phase
    each), whether or not its previous answer came; a late call's latency counts from its
    scheduled time (no coordinated omission)."""
    period = 1.0 / rate
    calls = max(1, int(seconds * rate))
    start = time.perf_counter() + 0.2
    rng = random.Random(15)

    async def one(cp: SimChargePoint, tx: int) -> None:
        offset = rng.random() * period
        tasks = []
        for k in range(calls):
            due = start + offset + k * period
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(
                    cp.timed(result, "MeterValues", meter_values_payload(tx, 10_000 + k), due)
                )
            )
        await asyncio.gather(*tasks)

    await asyncio.gather(*(one(cp, tx) for cp, tx in pairs))
    result.wall = max(seconds, time.perf_counter() - start)


async def heartbeats(cps: list[SimChargePoint], m: int, result: PhaseResult) -> None:
    """Each charge point sends m Heartbeats back to back."""

    async def one(cp: SimChargePoint) -> None:
        for _ in range(m):
            await cp.timed(result, "Heartbeat", {})

    start = time.perf_counter()
    await asyncio.gather(*(one(cp) for cp in cps))
    result.wall = time.perf_counter() - start


async def commands(
    api: httpx.AsyncClient, cps: list[SimChargePoint], k: int, result: PhaseResult
) -> None:
    """k soft resets per charge point through the REST API (REST -> api -> broker -> gateway
    -> charge point -> back), one at a time per charge point; errors by HTTP status."""

    async def one(cp: SimChargePoint) -> None:
        for _ in range(k):
            start = time.perf_counter()
            try:
                resp = await api.post(
                    f"/api/v1/chargepoints/{cp.cp_id}/commands/reset", json={"type": "Soft"}
                )
            except httpx.HTTPError as exc:
                result.errors[type(exc).__name__] += 1
                continue
            if resp.status_code == 200:
                result.latencies.append(time.perf_counter() - start)
            else:
                result.errors[f"HTTP{resp.status_code}"] += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(cp) for cp in cps))
    result.wall = time.perf_counter() - start
