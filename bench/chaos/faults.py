"""The fault schedule: one fault at a time, each followed by recovery before the next.

A fault's `inject` does the damage and the repair (kill -9 then start; stop, wait, start).
Its recovery is measured from the moment it began until every charge point in session got a
CALLRESULT for a CALL (re)sent after that moment (`ledger.Watch`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bench.chaos.accounting import FaultResult
from bench.chaos.cluster import PrivatePostgres, PrivateRabbit
from bench.chaos.ledger import Ledger, Watch
from bench.stack import Stack

log = logging.getLogger("chaos")

SERVICES = ("registry", "transactions", "charging", "gateway", "api")
"""Start order: the consumers first, the gateway once they answer, the API last."""


@dataclass(frozen=True)
class Fault:
    """One named fault: `inject` breaks something and repairs it, and may return a note for
    the table (what the fault did, e.g. how far a stopped consumer's queue grew)."""

    name: str
    inject: Callable[[], Awaitable[str | None]]


def schedule(
    stack: Stack,
    rabbit: PrivateRabbit,
    postgres: PrivatePostgres,
    *,
    postgres_down: float = 30.0,
    consumer_stopped: float = 20.0,
    stopped_consumer: str = "transactions",
) -> list[Fault]:
    """Every fault of the run, in order."""

    def kill_restart(name: str) -> Fault:
        async def inject() -> None:
            await stack.kill(name)
            await stack.start(name)
            return None

        return Fault(f"kill -9 {name} + restart", inject)

    async def rabbit_restart() -> str | None:
        await rabbit.stop()
        await rabbit.start()
        return None

    async def rabbit_kill() -> str | None:
        await rabbit.kill()
        await rabbit.start()
        return None

    async def postgres_stop() -> str | None:
        await postgres.stop("immediate")
        await asyncio.sleep(postgres_down)
        await postgres.start()
        return None

    async def sigstop() -> str | None:
        proc = stack.procs[stopped_consumer]
        proc.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(consumer_stopped)
            depth = (await rabbit.queue_depths()).get(f"csms.{stopped_consumer}")
        finally:
            proc.send_signal(signal.SIGCONT)
        prefetch = stack.env.get("CSMS_CONSUMER_PREFETCH", "200")
        return f"queue {depth} at SIGCONT, prefetch {prefetch}"

    return [
        *(
            kill_restart(name)
            for name in ("gateway", "registry", "transactions", "charging", "api")
        ),
        Fault("RabbitMQ restart (graceful)", rabbit_restart),
        Fault("kill -9 RabbitMQ (beam) + start", rabbit_kill),
        Fault(f"Postgres stop -m immediate {postgres_down:.0f} s + start", postgres_stop),
        Fault(f"SIGSTOP {stopped_consumer} {consumer_stopped:.0f} s + SIGCONT", sigstop),
    ]


def select(faults: Sequence[Fault], wanted: str) -> list[Fault]:
    """The faults whose name contains one of the comma-separated words of `wanted` (all if
    empty), e.g. `CHAOS_FAULTS=gateway,Postgres`."""
    words = [w.strip().lower() for w in wanted.split(",") if w.strip()]
    if not words:
        return list(faults)
    return [f for f in faults if any(w in f.name.lower() for w in words)]


async def ensure_running(stack: Stack) -> list[str]:
    """Start any service process that exited on its own (as a supervisor would); returns the
    names restarted, reported as unplanned exits."""
    restarted = []
    for name in SERVICES:
        proc = stack.procs.get(name)
        if proc is not None and proc.returncode is not None:
            log.warning("%s exited on its own with %s: starting it again", name, proc.returncode)
            del stack.procs[name]
            await stack.start(name)
            restarted.append(name)
    return restarted


async def run_fault(
    fault: Fault,
    ledger: Ledger,
    in_session: Callable[[], int],
    *,
    recovery_timeout: float,
    settle: float,
) -> FaultResult:
    """Inject one fault, wait until every charge point in session recovered (or the timeout),
    then let the system settle."""
    loop = asyncio.get_running_loop()
    watch = Watch(began=loop.time())
    ledger.watch = watch
    log.info("fault: %s", fault.name)
    note = await fault.inject()
    deadline = loop.time() + recovery_timeout
    # A poll: recovery is many charge points' answers counted by the ledger, not one event.
    while len(watch.recovered) < in_session() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    ledger.watch = None
    result = FaultResult(
        fault.name if note is None else f"{fault.name} ({note})",
        watch.first(),
        watch.last(),
        max(0, in_session() - len(watch.recovered)),
    )
    log.info(
        "recovered: first %s s, last %s s, not back %d",
        result.first,
        result.last,
        result.not_recovered,
    )
    await asyncio.sleep(settle)
    return result
