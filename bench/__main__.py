"""`make bench`: load the real stack with simulated charge points and print a table.

Phase 1 (sessions): N charge points at once each boot, report two connector statuses,
authorize, start, send M MeterValues and stop. Printed: calls/s per action, p50/p99 latency,
persisted MeterValues calls/s end to end (until every sampled value is in Postgres), CPU seconds
per process. Phase 2 (idle): I charge points connect and boot, then idle; printed: the gateway's
resident memory per connection. Phase 3 (boot storm): S charge points open their websocket and
send BootNotification all at the same moment (what a site does after a power cut); printed: how
many were accepted, how many got a CALLERROR (InternalError: a service did not answer within
CSMS_UPSTREAM_CALL_TIMEOUT), p50/p99 latency and seconds until the last answer. Phase 4
(auth flood, bench/auth_flood.py): clients hammer one charge point id with wrong passwords
while a legitimate station keeps connecting; printed: how the attempts were answered (401 /
429 back-off), gateway and registry CPU, the legitimate station's connect+boot latency.
Phase 5 (events, bench/events.py): the sessions again with the event throttles off while W
webhook endpoints and S stream clients take every event; printed: events/s delivered to each
side and CPU per process. A slow or failed answer is a figure here, not a failure (the test
suite asserts outcomes, not speed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import time
from pathlib import Path

from sqlalchemy import text

from bench.auth_flood import provision as provision_flood
from bench.auth_flood import run_auth_flood
from bench.chargepoint import Latencies, SimChargePoint, new_latencies
from bench.events import print_events, run_events
from bench.stack import Stack, free_port, stack_env
from shared.db.migrate import create_database_if_missing, upgrade
from shared.db.session import create_engine

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/csms_bench"
)
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/csms_bench")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def infra_pids() -> dict[str, list[int]]:
    """PIDs of the local infrastructure: every postgres process, RabbitMQ's Erlang VM."""
    found: dict[str, list[int]] = {"postgres": [], "rabbitmq": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres":
            found["postgres"].append(int(entry.name))
        elif comm == "beam.smp":
            found["rabbitmq"].append(int(entry.name))
    return found


def group_cpu(pids: list[int]) -> float:
    """CPU seconds of a group of processes (ones that exited meanwhile count as 0)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # exited meanwhile
            total += cpu_seconds(pid)
    return total


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def prepare_database(tags: int) -> None:
    """Create, migrate and empty the bench database; provision the id tags."""
    await asyncio.to_thread(create_database_if_missing, DB_URL)
    await asyncio.to_thread(upgrade, DB_URL)
    engine = create_engine(DB_URL)
    async with engine.begin() as conn:
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
    await engine.dispose()


async def count_meter_values() -> int:
    engine = create_engine(DB_URL)
    async with engine.connect() as conn:
        n = (await conn.execute(text("select count(*) from meter_value"))).scalar_one()
    await engine.dispose()
    return int(n)


async def run_sessions(stack: Stack, n: int, mv: int, lat: Latencies) -> tuple[float, float]:
    """Phase 1; returns (wall seconds of the load, seconds until all meter values persisted)."""
    cps = [SimChargePoint(stack.ws_url, f"BENCH-CP-{i}", lat) for i in range(n)]
    await asyncio.gather(*(cp.connect() for cp in cps))
    start = time.perf_counter()
    await asyncio.gather(*(cp.session(mv, f"BENCH-{i}") for i, cp in enumerate(cps)))
    load = time.perf_counter() - start
    expected = n * mv * 2
    while await count_meter_values() < expected:
        await asyncio.sleep(0.05)
        if time.perf_counter() - start > 600:
            raise TimeoutError("meter values not persisted after 600 s")
    persisted = time.perf_counter() - start
    await asyncio.gather(*(cp.close() for cp in cps))
    return load, persisted


async def run_idle(stack: Stack, n: int) -> tuple[int, int]:
    """Phase 2; returns gateway RSS before and with n idle, booted connections."""
    pid = stack.procs["gateway"].pid
    before = rss_bytes(pid)
    lat = new_latencies()
    cps = [SimChargePoint(stack.ws_url, f"IDLE-{i}", lat) for i in range(n)]
    for chunk in range(0, n, 500):
        group = cps[chunk : chunk + 500]
        await asyncio.gather(*(cp.connect() for cp in group))
        # Booted: until its BootNotification is Accepted a charge point gets nothing else through.
        boot = {"chargePointVendor": "Bench", "chargePointModel": "Idle"}
        await asyncio.gather(*(cp.call("BootNotification", boot) for cp in group))
    await asyncio.sleep(2)
    after = rss_bytes(pid)
    await asyncio.gather(*(cp.close() for cp in cps))
    return before, after


async def run_boot_storm(stack: Stack, n: int) -> tuple[int, dict[str, int], list[float], float]:
    """Phase 3; returns (accepted, CALLERROR codes counted, boot latencies, wall seconds)."""
    lat = new_latencies()
    cps = [SimChargePoint(stack.ws_url, f"STORM-{i}", lat) for i in range(n)]
    errors: dict[str, int] = {}

    async def boot(cp: SimChargePoint) -> bool:
        await cp.connect()
        try:
            answer = await cp.call(
                "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "Storm"}
            )
        except RuntimeError as exc:  # a CALLERROR: counted, not raised
            code = str(exc).split()[2] if len(str(exc).split()) > 2 else "?"
            errors[code] = errors.get(code, 0) + 1
            return False
        return bool(answer.get("status") == "Accepted")

    start = time.perf_counter()
    accepted = sum(await asyncio.gather(*(boot(cp) for cp in cps)))
    wall = time.perf_counter() - start
    await asyncio.gather(*(cp.close() for cp in cps))
    return accepted, errors, lat["BootNotification"], wall


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    await prepare_database(args.chargepoints)
    health = {name: free_port() for name in ("registry", "transactions", "charging", "webhooks")}
    port = free_port()
    env = stack_env(DB_URL, AMQP_URL, port, health)
    env["CSMS_LOG_LEVEL"] = "WARNING"
    env["CSMS_WEBHOOKS_ALLOW_PRIVATE_TARGETS"] = "true"
    env["CSMS_AUTH_FAILURES_BEFORE_BACKOFF"] = str(args.flood_free_failures)
    logs = Path(args.log_dir)
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    stack = Stack(env=env, log_dir=logs, gateway_port=port, health_ports=health)
    try:
        for name in ("registry", "transactions", "gateway"):
            await stack.start(name)
        groups = {name: [p.pid] for name, p in stack.procs.items()}
        groups.update(infra_pids())
        groups["bench client"] = [os.getpid()]
        cpu0 = {name: group_cpu(pids) for name, pids in groups.items()}
        lat = new_latencies()
        load, persisted = await run_sessions(stack, args.chargepoints, args.meter_values, lat)
        cpu = {name: group_cpu(pids) - cpu0[name] for name, pids in groups.items()}
        print(f"\nPhase 1: {args.chargepoints} charge points x {args.meter_values} MeterValues")
        print(f"{'action':<20}{'calls':>8}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
        for action, values in lat.items():
            print(
                f"{action:<20}{len(values):>8}{len(values) / load:>10.0f}"
                f"{pct(values, 0.5):>9.1f}{pct(values, 0.99):>9.1f}"
            )
        total = sum(len(v) for v in lat.values())
        mv = len(lat["MeterValues"])
        print(f"{'all calls':<20}{total:>8}{total / load:>10.0f}")
        print(
            f"persisted MeterValues calls/s end to end: {mv / persisted:.0f} "
            f"({mv} calls, {persisted:.2f} s until all in Postgres)"
        )
        print(f"{'process':<14}{'CPU s':>8}{'CPU ms/call':>13}")
        for name, secs in cpu.items():
            print(f"{name:<14}{secs:>8.2f}{secs * 1000 / total:>13.3f}")
        print(
            f"{'all':<14}{sum(cpu.values()):>8.2f}{sum(cpu.values()) * 1000 / total:>13.3f}"
            f"   (over {persisted:.2f} s wall on {os.cpu_count()} cores)"
        )
        if args.idle:
            before, after = await run_idle(stack, args.idle)
            per = (after - before) / args.idle
            print(f"\nPhase 2: {args.idle} idle charge points on one gateway process")
            print(
                f"gateway RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB: "
                f"{per / 1024:.1f} KiB per connection"
            )
        if args.storm:
            accepted, errors, boots, wall = await run_boot_storm(stack, args.storm)
            print(f"\nPhase 3: boot storm of {args.storm} charge points at once")
            print(
                f"accepted {accepted}, CALLERROR {sum(errors.values())}"
                + (f" {errors}" if errors else "")
                + "; "
                f"boot p50 {pct(boots, 0.5):.1f} ms, p99 {pct(boots, 0.99):.1f} ms; "
                f"all answered after {wall:.2f} s"
            )
        if args.flood:
            await provision_flood(DB_URL)
            watched = {n: [stack.procs[n].pid] for n in ("gateway", "registry")}
            cpu_before = {n: group_cpu(p) for n, p in watched.items()}
            flood = await run_auth_flood(stack.ws_url, args.flood, args.flood_seconds)
            used = {n: group_cpu(p) - cpu_before[n] for n, p in watched.items()}
            tries = sum(flood.answers.values())
            print(
                f"\nPhase 4: auth flood, {args.flood} clients x {args.flood_seconds:.0f} s of "
                f"wrong passwords for one charge point id"
            )
            print(
                f"attempts {tries} ({tries / args.flood_seconds:.0f}/s), answers "
                + ", ".join(f"{code}: {n}" for code, n in sorted(flood.answers.items()))
            )
            print(
                "CPU s during the flood: "
                + ", ".join(f"{n} {secs:.2f}" for n, secs in used.items())
            )
            print(
                f"legitimate station connect+boot: {len(flood.legit)} ok, "
                f"{flood.legit_failures} failed; p50 {pct(flood.legit, 0.5):.1f} ms, "
                f"p99 {pct(flood.legit, 0.99):.1f} ms, max {pct(flood.legit, 1.0):.1f} ms"
                + (f"; first failure: {flood.legit_errors[0]}" if flood.legit_errors else "")
            )
        if args.webhooks or args.streams:
            figures = await run_events(
                stack,
                DB_URL,
                chargepoints=args.chargepoints,
                meter_values=args.meter_values,
                webhooks=args.webhooks,
                streams=args.streams,
            )
            print_events(figures, args.webhooks, args.streams)
        print(f"(soft fd limit was {soft}; service logs in {logs})")
    finally:
        await stack.stop_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chargepoints", type=int, default=200)
    parser.add_argument("--meter-values", type=int, default=50)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--storm", type=int, default=200, help="boot storm size (0: skip)")
    parser.add_argument("--flood", type=int, default=20, help="auth flood clients (0: skip)")
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    parser.add_argument(
        "--flood-free-failures",
        type=int,
        default=5,
        help="CSMS_AUTH_FAILURES_BEFORE_BACKOFF of the gateway (1000: back-off out of the way)",
    )
    parser.add_argument("--webhooks", type=int, default=10, help="phase 5 endpoints (0: skip)")
    parser.add_argument("--streams", type=int, default=100, help="phase 5 SSE clients")
    parser.add_argument("--log-dir", default="/tmp/csms-bench-logs")
    asyncio.run(main(parser.parse_args()))
