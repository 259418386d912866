"""The common main of the consumer services (registry, transactions, charging)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from shared import metrics
from shared.bus.topology import DEAD_LETTER
from shared.dispatch import Dispatcher, MessageLogWriter, Router
from shared.health import HealthServer
from shared.logging import configure_logging
from shared.queuewatch import SERVICE_QUEUES, QueueWatch
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from shared.bus.bus import Bus

ShutdownCallback = Callable[[], Awaitable[None]]

_RETRY_INITIAL = 0.5
_RETRY_MAX = 30.0
GC_THRESHOLD_0: Final = 20_000
"""Allocations between two collections of the youngest generation (CPython default: 700)."""


@dataclass
class ServiceContext:
    """What a service's `setup` gets: configuration, database, bus, logger, health server."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    bus: Bus
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("services"))
    name: str = "service"
    health: HealthServer = field(default_factory=lambda: HealthServer(0))
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _on_shutdown: list[ShutdownCallback] = field(default_factory=list)

    def on_shutdown(self, callback: ShutdownCallback) -> None:
        """Run `callback` at shutdown, before the bus closes (last registered runs first)."""
        self._on_shutdown.append(callback)

    async def shutdown(self) -> None:
        """Set `stopping` and run the shutdown callbacks (last registered first); a failing
        one is logged and the others still run. Tests that run `setup` call this too."""
        self.stopping.set()
        callbacks, self._on_shutdown = self._on_shutdown, []
        for callback in reversed(callbacks):
            try:
                await callback()
            except Exception:
                self.logger.exception("shutdown callback failed")


def run_consumer_service(name: str, setup: Callable[[ServiceContext], Awaitable[None]]) -> None:
    """Configure, connect, call `setup(ctx)`, then serve until SIGTERM/SIGINT; exits 0."""
    settings = get_settings()
    configure_logging(name, settings.log_level, settings.log_format)
    import uvloop

    raise SystemExit(uvloop.run(_serve(name, settings, setup)))


def _settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector off what lives as long as the service.

    After start-up (imports, SQLAlchemy's compiled statements, the route tables: hundreds of
    thousands of objects) `gc.freeze()` moves every object to the permanent generation, so a
    full collection no longer walks them all; the first generation's threshold is raised so
    a batch of messages (thousands of short-lived dicts and models) is not interrupted by
    collections every 700 allocations. Reference counting frees almost everything anyway.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_0, *gc.get_threshold()[1:])


async def _retry(
    what: str,
    attempt: Callable[[], Awaitable[None]],
    stopping: asyncio.Event,
    log: logging.Logger,
) -> bool:
    """Call `attempt` until it succeeds (True) or a stop is requested (False)."""
    delay = _RETRY_INITIAL
    while not stopping.is_set():
        try:
            await attempt()
            return True
        except Exception as exc:  # noqa: BLE001 - retried; the reason is logged
            log.warning(
                "%s unavailable, retrying in %.1fs: %s", what, delay, exc, extra={"retry_in": delay}
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=delay)
        delay = min(delay * 2, _RETRY_MAX)
    return False


async def _serve(
    name: str, settings: Settings, setup: Callable[[ServiceContext], Awaitable[None]]
) -> int:
    from sqlalchemy import text

    from shared.bus.bus import Bus
    from shared.db.session import create_engine, create_sessionmaker

    log = logging.getLogger(f"services.{name}")
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    health = HealthServer(getattr(settings, f"{name}_health_port", 0))
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    bus = Bus(settings.amqp_url, name=name, prefetch=settings.consumer_prefetch)
    metrics.register_bus(bus)
    ctx = ServiceContext(
        name=name,
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        bus=bus,
        logger=log,
        health=health,
        stopping=stopping,
    )

    async def select_one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def db_ready() -> bool:
        await select_one()
        return True

    async def bus_ready() -> bool:
        return bus.is_connected

    # Depth and consumers of this service's queues and of the dead letters, on /metrics.
    watch = QueueWatch(bus, (*SERVICE_QUEUES.get(name, ()), DEAD_LETTER))
    health.add_check("database", db_ready)
    health.add_check("bus", bus_ready)
    status = 0
    try:
        await health.start()
        # Consume only once the database answers: handlers that fail for lack of a database
        # would burn the messages' delivery limit and dead-letter good messages.
        if await _retry("database", select_one, stopping, log) and await _retry(
            "broker", bus.connect, stopping, log
        ):
            if not stopping.is_set():
                await setup(ctx)
                _settle_garbage_collector()
                watch.start()
                log.info("%s started", name)
            await stopping.wait()
        log.info("%s stopping", name)
    except Exception:
        log.exception("%s failed", name)
        status = 1
    finally:
        health.set_draining()
        await watch.stop()
        await ctx.shutdown()
        # Closing the bus stops consuming and lets in-flight batches commit and ack.
        for what, close in (("bus", bus.close), ("database engine", engine.dispose)):
            try:
                await close()
            except Exception:
                log.exception("closing the %s failed", what)
        await health.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("%s stopped", name)
    return status


def rpc_queue_name(queue: str) -> str:
    """The queue of a service's RPC routes, beside its main queue."""
    return f"{queue}.rpc"


RPC_MAX_BATCH: Final = 20
"""Replies go out when their batch commits: RPC batches stay small so a charge point waiting
on a StartTransaction does not wait for 199 others to be handled first."""
CONSUMERS_PER_QUEUE: Final = 2
"""Consumers per queue in one process, each on its own channel: while one waits on Postgres
the other handles its batch. (Each channel settles its batches with basic.ack(multiple) in
delivery order, which concurrent batches on ONE channel would break.)"""


async def consume_router(
    ctx: ServiceContext,
    queue: str,
    router: Router,
    *,
    log_writer: MessageLogWriter | None = None,
    max_batch: int | None = None,
) -> None:
    """Declare the service's queues and consume them with batch dispatchers.

    `<queue>.rpc` holds the calls a charge point waits on; `<queue>` holds fire-and-forget
    messages and domain events. Separate queues keep an RPC from waiting behind a backlog of
    MeterValues (e.g. after a charge point replays hours of offline data). Routes with an
    `own_queue` get `<queue>.<own_queue>`, handled one message per transaction (command
    effects: each takes a charge point's effect cursor, docs/commands.md).
    """
    bulk_batch = max_batch or ctx.settings.consumer_prefetch
    plans: list[tuple[str, list[tuple[str, str]], int]] = [
        (rpc_queue_name(queue), router.bindings(rpc=True), min(bulk_batch, RPC_MAX_BATCH)),
        (queue, router.bindings(rpc=False), bulk_batch),
    ]
    for own in router.own_queues():
        plans.append((f"{queue}.{own}", router.bindings(own_queue=own), 1))
    for name, bindings, batch in plans:
        if not bindings:
            continue
        dispatcher = Dispatcher(
            router=router,
            sessionmaker=ctx.sessionmaker,
            settings=ctx.settings,
            publisher=ctx.bus,
            log_writer=log_writer,
            service=ctx.name,
        )
        await ctx.bus.declare_service_queue(name, bindings)
        for _ in range(CONSUMERS_PER_QUEUE):
            await ctx.bus.consume(name, dispatcher, max_batch=batch)
