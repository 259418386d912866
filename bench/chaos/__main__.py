"""`make chaos`: start a private stack, play charge points through faults, count what was lost.

Settings (environment, or the same names as options: `--chargepoints` etc.):
CHAOS_CHARGEPOINTS (500), CHAOS_V201_SHARE (0.5: every other charge point speaks 2.0.1),
CHAOS_FAULTS (comma-separated words selecting faults by name; all by default),
CHAOS_POSTGRES_DOWN (30 s), CHAOS_SIGSTOP (20 s), CHAOS_INTERVAL (1 s between readings),
CHAOS_ANSWER_TIMEOUT (20 s), CHAOS_METER_ATTEMPTS (10), CHAOS_WARMUP (15 s), CHAOS_SETTLE
(10 s), CHAOS_LOG_DIR (/tmp/csms-chaos-logs).
Exit status 0 only when nothing acknowledged is missing, nothing is stored twice and no
transaction is left open. See docs/chaos.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.chaos import faults, rows
from bench.chaos.accounting import FaultResult, Report, compare, render
from bench.chaos.cluster import PrivatePostgres, PrivateRabbit
from bench.chaos.ledger import Ledger
from bench.chaos.simulator import V16, V201, Behaviour, ChaosChargePoint
from bench.stack import Stack, free_port, stack_env
from shared.db.migrate import create_database_if_missing, upgrade
from shared.db.session import create_engine

log = logging.getLogger("chaos")
DATABASE = "csms_chaos"
DEAD_LETTER_QUEUE = "csms.dead-letter"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default) or default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--chargepoints", type=int, default=int(_env("CHAOS_CHARGEPOINTS", "500")))
    p.add_argument("--v201-share", type=float, default=float(_env("CHAOS_V201_SHARE", "0.5")))
    p.add_argument("--faults", default=os.environ.get("CHAOS_FAULTS", ""))
    p.add_argument("--postgres-down", type=float, default=float(_env("CHAOS_POSTGRES_DOWN", "30")))
    p.add_argument("--sigstop", type=float, default=float(_env("CHAOS_SIGSTOP", "20")))
    p.add_argument("--interval", type=float, default=float(_env("CHAOS_INTERVAL", "1")))
    p.add_argument(
        "--answer-timeout", type=float, default=float(_env("CHAOS_ANSWER_TIMEOUT", "20"))
    )
    p.add_argument("--meter-attempts", type=int, default=int(_env("CHAOS_METER_ATTEMPTS", "10")))
    p.add_argument("--warmup", type=float, default=float(_env("CHAOS_WARMUP", "15")))
    p.add_argument("--settle", type=float, default=float(_env("CHAOS_SETTLE", "10")))
    p.add_argument("--recovery-timeout", type=float, default=240.0)
    p.add_argument("--drain-timeout", type=float, default=600.0)
    p.add_argument("--log-dir", default=_env("CHAOS_LOG_DIR", "/tmp/csms-chaos-logs"))
    return p.parse_args(argv)


def version_of(index: int, share: float) -> str:
    """Spread the 2.0.1 charge points evenly: index i speaks 2.0.1 when its share ticks over."""
    return V201 if int((index + 1) * share) > int(index * share) else V16


async def drain(
    rabbit: PrivateRabbit,
    engine_counts: Callable[[], Awaitable[tuple[int, int, int]]],
    timeout: float,
    stable_for: float = 10.0,
) -> int:
    """Wait until the service queues are empty and the rows stop changing; returns the
    number of dead letters."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: tuple[int, int, int] | None = None
    since = loop.time()
    dead = 0
    while loop.time() < deadline:
        try:
            depths = await rabbit.queue_depths()
        except Exception as exc:  # noqa: BLE001 - a busy node: ask again
            log.warning("list_queues failed: %s", exc)
            await asyncio.sleep(2)
            continue
        dead = depths.get(DEAD_LETTER_QUEUE, 0)
        backlog = sum(
            n for q, n in depths.items() if q.startswith("csms.") and q != DEAD_LETTER_QUEUE
        )
        now_counts = await engine_counts()
        if backlog or now_counts != last:
            last, since = now_counts, loop.time()
        elif loop.time() - since >= stable_for and now_counts[2] == 0:
            break
        elif loop.time() - since >= max(stable_for, 60.0):
            break  # settled with transactions still open: that is the finding
        await asyncio.sleep(1)
    return dead


async def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # SIGTERM (a `timeout`, a CI job cancelled) cancels the run, so `finally` still stops and
    # removes the private servers and processes.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = Path(tempfile.mkdtemp(prefix="csms-chaos-"))
    os.chmod(work, 0o755)
    logs = Path(args.log_dir)
    shutil.rmtree(logs, ignore_errors=True)
    await asyncio.to_thread(logs.mkdir, parents=True)
    postgres = PrivatePostgres(work / "postgres", free_port())
    rabbit = PrivateRabbit(work / "rabbitmq", free_port(), free_port())
    stack: Stack | None = None
    engine = None
    try:
        log.info(
            "private Postgres on %d, RabbitMQ %s on %d", postgres.port, rabbit.nodename, rabbit.port
        )
        await postgres.init()
        await postgres.start()
        await rabbit.start()
        db_url = postgres.url(DATABASE)
        await asyncio.to_thread(create_database_if_missing, db_url)
        await asyncio.to_thread(upgrade, db_url)
        engine = create_engine(db_url)
        tags = [f"CHAOS-TAG-{i:05d}" for i in range(args.chargepoints)]
        await rows.provision_tags(engine, tags)

        health = {name: free_port() for name in ("registry", "transactions", "charging")}
        port = free_port()
        env = stack_env(db_url, rabbit.amqp_url, port, health)
        env["CSMS_LOG_LEVEL"] = "WARNING"
        stack = Stack(env=env, log_dir=logs, gateway_port=port, health_ports=health)
        for name in faults.SERVICES:
            await stack.start(name)
        log.info("services up; %d charge points connecting", args.chargepoints)

        ledger = Ledger()
        behaviour = Behaviour(
            interval=args.interval,
            answer_timeout=args.answer_timeout,
            meter_attempts=args.meter_attempts,
        )
        stopping = asyncio.Event()
        cps = [
            ChaosChargePoint(
                i, stack.ws_url, version_of(i, args.v201_share), ledger, behaviour, tags[i]
            )
            for i in range(args.chargepoints)
        ]
        ramp = max(5.0, args.chargepoints / 25)

        async def play(cp: ChaosChargePoint) -> None:
            await asyncio.sleep(ramp * cp.index / max(1, args.chargepoints))
            await cp.run(stopping)

        sessions = [asyncio.create_task(play(cp)) for cp in cps]

        def in_session() -> int:
            return sum(1 for cp in cps if cp.record.transaction is not None and not cp.finished)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 600
        while in_session() < len(cps) and loop.time() < deadline:
            failed = [t for t in sessions if t.done() and t.exception() is not None]
            if failed:
                raise RuntimeError(f"a charge point failed: {failed[0].exception()!r}")
            await asyncio.sleep(1)
        log.info("%d of %d charge points in a transaction", in_session(), len(cps))
        await asyncio.sleep(args.warmup)

        results: list[FaultResult] = []
        unplanned: list[str] = []
        chosen = faults.select(
            faults.schedule(
                stack,
                rabbit,
                postgres,
                postgres_down=args.postgres_down,
                consumer_stopped=args.sigstop,
            ),
            args.faults,
        )
        for fault in chosen:
            results.append(
                await faults.run_fault(
                    fault,
                    ledger,
                    in_session,
                    recovery_timeout=args.recovery_timeout,
                    settle=args.settle,
                )
            )
            unplanned += await faults.ensure_running(stack)

        log.info("stopping every transaction")
        stopping.set()
        done, pending = await asyncio.wait(sessions, timeout=600)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                log.error("a charge point failed: %r", task.exception())
        unplanned += await faults.ensure_running(stack)
        log.info("draining (%d sessions did not finish)", len(pending))

        async def counts() -> tuple[int, int, int]:
            assert engine is not None
            return await rows.counts(engine)

        dead = await drain(rabbit, counts, args.drain_timeout)
        report: Report = compare(
            ledger, await rows.meter_rows(engine), await rows.transaction_rows(engine), results
        )
        report.dead_letters = dead
        report.wall_seconds = time.monotonic() - started
        print()
        print(render(report))
        if report.unacked_examples:
            print(f"stored, never acknowledged (first ones): {report.unacked_examples}")
        if unplanned:
            print(f"services that exited on their own and were started again: {unplanned}")
        if pending:
            print(f"{len(pending)} charge points did not finish their session")
        print(f"(machine: {os.cpu_count()} cores; service logs in {logs})")
        return 0 if report.passed and not pending else 1
    finally:
        if engine is not None:
            await engine.dispose()
        if stack is not None:
            await stack.stop_all()
        for keep in (postgres.log, rabbit.log):
            if keep.exists():
                shutil.copy(keep, logs / keep.name)
        await rabbit.remove()
        await postgres.remove()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    import uvloop

    return int(uvloop.run(run(parse_args(argv))))


if __name__ == "__main__":
    raise SystemExit(main())
