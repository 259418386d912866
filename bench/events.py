"""Phase 5 of `make bench`: public events under the MeterValues load.

W webhook endpoints (in-process receivers answering 200) subscribe to every event type,
meter_values included, and S clients read the SSE stream, while the sessions of phase 1 run
again with the event throttles off (every MeterValues is a transaction.updated and a
meter_values event). Printed: events written, events per second delivered to the endpoints
and to the streams (until the last one arrived), and CPU seconds per process with ms per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import phases
from bench.chargepoint import SimChargePoint, meter_values_payload
from bench.report import PhaseResult
from bench.stack import Stack, free_port
from shared.db.session import create_engine

ADMIN = ("bench@example.com", "bench-password")  # provisioned by bench.__main__
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.asynccontextmanager
async def receivers(n: int) -> AsyncIterator[tuple[list[str], list[int]]]:
    """n webhook receivers on one server: (their URLs, events received per receiver)."""
    counts = [0] * n

    async def hook(request: Request) -> Response:
        await request.body()
        counts[int(request.path_params["i"])] += 1
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook/{i:int}", hook, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, no event
        await asyncio.sleep(0.05)
    try:
        yield [f"http://127.0.0.1:{port}/hook/{i}" for i in range(n)], counts
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def read_stream(client: httpx.AsyncClient, token: str, counts: list[int], i: int) -> None:
    """Count the events of one SSE client until cancelled."""
    params = {"type": ["*", "meter_values"]}
    async with client.stream(
        "GET",
        "/api/v1/events/stream",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=None,
    ) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                counts[i] += 1


async def outbox_count(db_url: str) -> int:
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        n = (await conn.execute(text("select count(*) from event_outbox"))).scalar_one()
    await engine.dispose()
    return int(n)


async def run_events(
    stack: Stack, db_url: str, *, chargepoints: int, meter_values: int, webhooks: int, streams: int
) -> dict[str, Any]:
    """The phase; returns its figures."""
    await stack.start("webhooks")
    # The transactions service again, with the throttles off: an event per MeterValues.
    await stack.stop("transactions")
    await stack.start(
        "transactions",
        env={"CSMS_EVENTS_UPDATE_INTERVAL": "0", "CSMS_EVENTS_METER_VALUES_INTERVAL": "0"},
    )
    async with (
        httpx.AsyncClient(base_url=stack.api_url, timeout=60) as api,
        receivers(webhooks) as (urls, hook_counts),
    ):
        r = await api.post("/api/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})
        r.raise_for_status()
        token = r.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for url in urls:
            body = {"url": url, "event_types": ["*", "meter_values"]}
            (await api.post("/api/v1/webhooks", json=body, headers=auth)).raise_for_status()
        stream_counts = [0] * streams
        limits = httpx.Limits(max_connections=streams + 10)
        async with httpx.AsyncClient(base_url=stack.api_url, limits=limits) as sse:
            readers = [
                asyncio.create_task(read_stream(sse, token, stream_counts, i))
                for i in range(streams)
            ]
            await asyncio.sleep(2)  # the streams are open
            before = await outbox_count(db_url)
            pids = {name: p.pid for name, p in stack.procs.items() if p.returncode is None}
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            result = PhaseResult("events load")
            pairs = await phases.sessions(stack.ws_url, "EVT-CP", chargepoints)

            async def one(cp: SimChargePoint, tx: int) -> None:
                for i in range(1, meter_values + 1):
                    await cp.timed(result, "MeterValues", meter_values_payload(tx, i))

            start = time.perf_counter()
            await asyncio.gather(*(one(cp, tx) for cp, tx in pairs))
            load = time.perf_counter() - start
            await phases.close_all([cp for cp, _ in pairs])
            await asyncio.sleep(1)
            written = await outbox_count(db_url) - before
            deadline = time.perf_counter() + 600
            hooks_done = streams_done = None
            while time.perf_counter() < deadline and (hooks_done is None or streams_done is None):
                now = time.perf_counter() - start
                # No webhooks (or no streams) asked: that side is done at once.
                if hooks_done is None and min(hook_counts, default=written) >= written:
                    hooks_done = now
                if streams_done is None and min(stream_counts, default=written) >= written:
                    streams_done = now
                await asyncio.sleep(0.05)
            cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    calls = result.calls
    return {
        "load": load,
        "calls": calls,
        "written": written,
        "hooks_done": hooks_done,
        "streams_done": streams_done,
        "hook_min": min(hook_counts, default=0),
        "stream_min": min(stream_counts, default=0),
        "cpu": cpu,
    }


def print_events(figures: dict[str, Any], webhooks: int, streams: int) -> None:
    """The phase's lines."""
    written = figures["written"]
    print(f"\nPhase 5: events to {webhooks} webhooks and {streams} streams under MeterValues")
    print(
        f"{figures['calls']} calls in {figures['load']:.2f} s; {written} events written "
        "(throttles off)"
    )
    for what, done, n, least in (
        ("webhooks", figures["hooks_done"], webhooks, figures["hook_min"]),
        ("streams", figures["streams_done"], streams, figures["stream_min"]),
    ):
        if n == 0:
            continue
        if done is None:
            print(f"{what}: not all delivered within 600 s (slowest got {least} of {written})")
        else:
            print(
                f"{what}: {written * n / done:.0f} events/s delivered "
                f"({written} x {n} in {done:.2f} s)"
            )
    print(f"{'process':<14}{'CPU s':>8}{'CPU ms/call':>13}")
    for name, secs in figures["cpu"].items():
        print(f"{name:<14}{secs:>8.2f}{secs * 1000 / max(1, figures['calls']):>13.3f}")
