"""`make bench`: load the real stack with simulated OCPP 1.6 charge points, print a table per
phase and a summary with a REFERENCE row measured in the same run.

Phases (sizes are arguments; 0 skips a phase):
- boot storm: S charge points open their websocket and boot at the same moment;
- MeterValues closed loop: N stations with a transaction each send M MeterValues back to back;
  the wall time runs until every sampled value is in Postgres;
- MeterValues open loop: the same stations send R MeterValues per second each, on a clock, for
  T seconds (latency from the scheduled send time);
- Heartbeat: the same stations send H Heartbeats back to back;
- commands round trip: C soft resets per station through the REST API;
- idle (--idle): I stations connect, boot and idle; the gateway's resident memory per
  connection;
- auth flood (--flood, bench/auth_flood.py): F clients hammer one charge point id with wrong
  passwords for --flood-seconds while a legitimate station (another id, same address) keeps
  connecting and booting; errors `flood HTTP401` / `flood HTTP429` count how the attempts were
  answered (argon2-checked / back-off), the latencies are the legitimate station's
  connect+boot;
- events (--webhooks, --streams, bench/events.py): S stations send M MeterValues each with the
  event throttles off while W webhook endpoints and S stream clients take every event;
  printed: events/s delivered to each side and CPU per process;
- REFERENCE: the closed-loop MeterValues load against bench/reference.py (websocket ->
  confirmed publish -> batch consumer -> executemany), the least that work costs here.

Every phase prints calls/s, p50/p99/max latency, errors by code (a slow or failed answer is a
figure, never a failure of the run) and CPU per call of every process, read from /proc:
the services, RabbitMQ's beam (the one listening on the bench's AMQP port), the Postgres
backends of the bench database and this load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
from sqlalchemy import text

from bench import phases
from bench.accounting import (
    CpuMeter,
    cpu_delta,
    listener_pids,
    postgres_backends,
    with_children,
)
from bench.auth_flood import auth_flood
from bench.auth_flood import provision as provision_flood
from bench.chargepoint import SimChargePoint
from bench.events import print_events, run_events
from bench.reference import TABLE as REFERENCE_TABLE
from bench.report import PhaseResult, format_errors, format_phase, format_summary
from bench.stack import Stack, free_port, stack_env
from shared.db.migrate import create_database_if_missing, upgrade
from shared.db.session import create_engine
from shared.passwords import hash_password

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/csms_bench"
)
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/csms_bench")
SERVICES = ("registry", "transactions", "charging", "gateway", "api")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"load average {load} at start"
    )


async def sql_scalar(query: str) -> int:
    engine = create_engine(DB_URL)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def prepare_database(tags: int) -> None:
    """Create, migrate and empty the bench database; provision the id tags and an admin."""
    await asyncio.to_thread(create_database_if_missing, DB_URL)
    await asyncio.to_thread(upgrade, DB_URL)
    engine = create_engine(DB_URL)
    async with engine.begin() as conn:
        await conn.execute(text(f"drop table if exists {REFERENCE_TABLE}"))
        names = (
            (
                await conn.execute(
                    text(
                        "select tablename from pg_tables where schemaname='public' "
                        "and tablename <> 'alembic_version'"
                    )
                )
            )
            .scalars()
            .all()
        )
        await conn.execute(
            text("truncate " + ", ".join(f'"{n}"' for n in names) + " restart identity cascade")
        )
        await conn.execute(
            text("insert into id_tag (id_token, revoked) values (:t, false)"),
            [{"t": f"BENCH-{i}"} for i in range(tags)],
        )
        await conn.execute(
            text(
                "insert into user_account (id, email, password_hash, role, is_active) "
                "values (gen_random_uuid(), 'bench@example.com', :h, 'admin', true)"
            ),
            {"h": hash_password("bench-password")},
        )
    await engine.dispose()


class Bench:
    """The stack, the CPU meter and the results of one invocation."""

    def __init__(self, args: argparse.Namespace, stack: Stack) -> None:
        self.args = args
        self.stack = stack
        self.results: list[PhaseResult] = []
        self.meter = CpuMeter()
        for name, proc in stack.procs.items():
            if name == "gateway":  # with its processes (--gateway-processes)
                self.meter.add(name, functools.partial(with_children, proc.pid))
            else:
                self.meter.add_pids(name, [proc.pid])
        amqp_port = urlparse(AMQP_URL).port or 5672
        beam = listener_pids(amqp_port)
        self.meter.add("rabbitmq", lambda: beam)
        database = urlparse(DB_URL.replace("+asyncpg", "")).path.lstrip("/")
        self.meter.add("postgres", lambda: postgres_backends(database))
        self.meter.add_pids("load generator", [os.getpid()])

    async def measure(
        self, result: PhaseResult, load: Callable[[PhaseResult], Awaitable[None]]
    ) -> PhaseResult:
        before = self.meter.snapshot()
        await load(result)
        after = self.meter.snapshot()
        result.cpu = cpu_delta(before, after)
        print("\n" + format_phase(result), flush=True)
        return result


async def count_meter_values() -> int:
    return await sql_scalar("select count(*) from meter_value")


async def count_reference_values() -> int:
    return await sql_scalar(f"select count(*) from {REFERENCE_TABLE}")


async def api_client(stack: Stack) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=stack.api_url, timeout=60)
    token = await client.post(
        "/api/v1/auth/token", data={"username": "bench@example.com", "password": "bench-password"}
    )
    token.raise_for_status()
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


async def wait_api_bus(api: httpx.AsyncClient, cp_id: str) -> None:
    """The api answers 503 until its bus is connected: wait that out before measuring."""
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        resp = await api.post(f"/api/v1/chargepoints/{cp_id}/commands/reset", json={"type": "Soft"})
        if resp.status_code != 503:
            return
        await asyncio.sleep(0.2)


async def run_reference(args: argparse.Namespace, logs: Path) -> PhaseResult:
    """The closed-loop MeterValues load against the reference pipeline (its own processes)."""
    port = free_port()
    dsn = DB_URL.replace("+asyncpg", "")
    procs = []
    for argv in (["consumer", AMQP_URL, dsn], ["server", str(port), AMQP_URL]):
        with (logs / f"reference-{argv[0]}.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.reference",
                *argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 60)  # "ready"
        procs.append(proc)
    meter = CpuMeter()
    meter.add_pids("reference", [p.pid for p in procs])
    amqp_port = urlparse(AMQP_URL).port or 5672
    beam = listener_pids(amqp_port)
    meter.add("rabbitmq", lambda: beam)
    database = urlparse(dsn).path.lstrip("/")
    meter.add("postgres", lambda: postgres_backends(database))
    meter.add_pids("load generator", [os.getpid()])
    result = PhaseResult(
        f"MeterValues closed {args.stations}x{args.meter_values}", note="reference pipeline"
    )
    try:
        cps = [
            SimChargePoint(f"ws://127.0.0.1:{port}/ocpp", f"REF-{i}") for i in range(args.stations)
        ]
        await phases.connect_all(cps, result)
        pairs = [(cp, 1) for cp in cps if cp.ws is not None]
        before = meter.snapshot()
        await phases.meter_values_closed(pairs, args.meter_values, result, count_reference_values)
        result.cpu = cpu_delta(before, meter.snapshot())
        await phases.close_all(cps)
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()
    print("\n" + format_phase(result), flush=True)
    return result


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"machine: {machine()}")
    print(f"command: python -m bench {' '.join(sys.argv[1:])}", flush=True)
    await prepare_database(max(args.stations, 1))
    health = {name: free_port() for name in ("registry", "transactions", "charging", "webhooks")}
    port = free_port()
    env = stack_env(DB_URL, AMQP_URL, port, health)
    env["CSMS_LOG_LEVEL"] = "WARNING"
    env["CSMS_WEBHOOKS_ALLOW_PRIVATE_TARGETS"] = "true"
    env["CSMS_AUTH_FAILURES_BEFORE_BACKOFF"] = str(args.flood_free_failures)
    env["CSMS_GATEWAY_PROCESSES"] = str(args.gateway_processes)
    logs = Path(args.log_dir)
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    stack = Stack(env=env, log_dir=logs, gateway_port=port, health_ports=health)
    reference: PhaseResult | None = None
    results: list[PhaseResult] = []
    try:
        for name in SERVICES:
            await stack.start(name)
        bench = Bench(args, stack)
        results = bench.results
        url = stack.ws_url
        for size in args.storm:
            if size > 0:
                bench.results.append(
                    await bench.measure(
                        PhaseResult(f"boot storm {size}"),
                        functools.partial(phases.boot_storm, url, size),
                    )
                )
        pairs = await phases.sessions(url, "BENCH-CP", args.stations) if args.stations else []
        cps = [cp for cp, _ in pairs]
        if pairs and args.meter_values:
            bench.results.append(
                await bench.measure(
                    PhaseResult(f"MeterValues closed {args.stations}x{args.meter_values}"),
                    lambda r: phases.meter_values_closed(
                        pairs, args.meter_values, r, count_meter_values
                    ),
                )
            )
        if pairs and args.open_seconds > 0:
            bench.results.append(
                await bench.measure(
                    PhaseResult(
                        f"MeterValues open {args.stations}x{args.open_rate:g}/s",
                        note=f"{args.open_seconds:g} s on a clock",
                    ),
                    lambda r: phases.meter_values_open(pairs, args.open_rate, args.open_seconds, r),
                )
            )
        if cps and args.heartbeats:
            bench.results.append(
                await bench.measure(
                    PhaseResult(f"Heartbeat {args.stations}x{args.heartbeats}"),
                    lambda r: phases.heartbeats(cps, args.heartbeats, r),
                )
            )
        if cps and args.commands:
            api = await api_client(stack)
            try:
                await wait_api_bus(api, cps[0].cp_id)
                bench.results.append(
                    await bench.measure(
                        PhaseResult(f"commands {args.stations}x{args.commands}", note="Reset"),
                        lambda r: phases.commands(api, cps, args.commands, r),
                    )
                )
            finally:
                await api.aclose()
        await phases.close_all(cps)
        if args.idle:
            gw = stack.procs["gateway"].pid
            before = sum(rss_bytes(p) for p in with_children(gw))
            idle = [SimChargePoint(url, f"IDLE-{i}") for i in range(args.idle)]
            result = PhaseResult(
                f"idle {args.idle}", note=f"connect and boot, in chunks of {args.idle_chunk}"
            )
            start = time.perf_counter()
            await phases.connect_all(idle, result, chunk=args.idle_chunk)
            connected = [cp for cp in idle if cp.ws is not None]
            for i in range(0, len(connected), args.idle_chunk):  # boots as the connects
                await asyncio.gather(
                    *(cp.boot(result) for cp in connected[i : i + args.idle_chunk])
                )
            result.wall = time.perf_counter() - start
            await asyncio.sleep(2)
            # Per connection held: refused connects (HTTP 503 under load) hold nothing.
            held = sum(1 for cp in idle if cp.ws is not None)
            per = (sum(rss_bytes(p) for p in with_children(gw)) - before) / max(held, 1)
            result.note += f"; gateway RSS {per / 1024:.1f} KiB per connection held"
            print(
                f"\n== {result.name}: {result.note}; {held} connected, all connected and "
                f"booted in {result.wall:.2f} s; errors {format_errors(result.errors)}"
            )
            await phases.close_all(idle)
        if args.flood > 0 and args.flood_seconds > 0:
            await provision_flood(DB_URL)
            flood = PhaseResult(
                f"auth flood {args.flood}x{args.flood_seconds:g} s",
                note="wrong passwords for one id; latency: a legitimate station's connect+boot",
            )
            bench.results.append(
                await bench.measure(
                    flood,
                    functools.partial(auth_flood, url, args.flood, args.flood_seconds),
                )
            )
        if (args.webhooks or args.streams) and args.stations and args.meter_values:
            figures = await run_events(
                stack,
                DB_URL,
                chargepoints=args.stations,
                meter_values=args.meter_values,
                webhooks=args.webhooks,
                streams=args.streams,
            )
            print_events(figures, args.webhooks, args.streams)
        if args.reference and args.stations and args.meter_values:
            reference = await run_reference(args, logs)
    finally:
        await stack.stop_all()
    print("\n== summary (CPU ms per call: all processes; x ref: over the REFERENCE row)")
    print(format_summary(results, reference))
    print(f"(soft fd limit was {soft}; service logs in {logs})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--storm",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[200, 1000],
        help="boot storm sizes, comma separated (0 or '': none)",
    )
    parser.add_argument("--stations", type=int, default=100, help="stations of the next phases")
    parser.add_argument("--meter-values", type=int, default=50, help="closed loop, per station")
    parser.add_argument("--open-rate", type=float, default=2.0, help="open loop, per station/s")
    parser.add_argument("--open-seconds", type=float, default=10.0, help="open loop duration")
    parser.add_argument("--heartbeats", type=int, default=50, help="per station")
    parser.add_argument("--commands", type=int, default=5, help="soft resets per station")
    parser.add_argument("--idle", type=int, default=0, help="idle stations (e.g. 20000)")
    parser.add_argument(
        "--idle-chunk", type=int, default=500, help="idle: stations connecting at once"
    )
    parser.add_argument(
        "--gateway-processes",
        type=int,
        default=1,
        help="CSMS_GATEWAY_PROCESSES: gateway processes on the one port (CPU and memory summed)",
    )
    parser.add_argument(
        "--flood", type=int, default=20, help="auth flood: clients guessing one password (0: skip)"
    )
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="auth flood duration")
    parser.add_argument(
        "--flood-free-failures",
        type=int,
        default=5,
        help="CSMS_AUTH_FAILURES_BEFORE_BACKOFF of the gateway (1000: back-off out of the way)",
    )
    parser.add_argument("--webhooks", type=int, default=10, help="events: endpoints (0: skip)")
    parser.add_argument("--streams", type=int, default=100, help="events: SSE clients (0: skip)")
    parser.add_argument(
        "--no-reference", dest="reference", action="store_false", help="skip the REFERENCE row"
    )
    parser.add_argument("--log-dir", default="/tmp/csms-bench-logs")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
