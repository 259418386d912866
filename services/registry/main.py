"""`csms registry`: charge points, boot, heartbeats, status, connections, from csms.registry."""

from __future__ import annotations

from services.registry.routes import ROUTER
from shared.bus.topology import REGISTRY_QUEUE
from shared.dispatch import Dispatcher
from shared.messagelog import log_call_and_answer
from shared.service import ServiceContext, run_consumer_service


def build_dispatcher(ctx: ServiceContext) -> Dispatcher:
    """The batch dispatcher of this service (also used by tests)."""
    return Dispatcher(
        router=ROUTER,
        sessionmaker=ctx.sessionmaker,
        settings=ctx.settings,
        publisher=ctx.bus,
        log_writer=log_call_and_answer,
    )


async def setup(ctx: ServiceContext) -> None:
    """Declare `csms.registry` with the route table's bindings and consume it in batches."""
    await ctx.bus.declare_service_queue(REGISTRY_QUEUE, ROUTER.bindings())
    await ctx.bus.consume(
        REGISTRY_QUEUE, build_dispatcher(ctx), max_batch=ctx.settings.consumer_prefetch
    )


def main() -> None:
    """Run the registry service until SIGTERM/SIGINT."""
    run_consumer_service("registry", setup)
