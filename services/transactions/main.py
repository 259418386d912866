"""`csms transactions`: Authorize, Start/StopTransaction, MeterValues from csms.transactions."""

from __future__ import annotations

from services.transactions.routes import ROUTER
from shared.bus.topology import TRANSACTIONS_QUEUE
from shared.dispatch import Dispatcher
from shared.messagelog import log_call_and_answer
from shared.service import ServiceContext, run_consumer_service


def build_dispatcher(ctx: ServiceContext) -> Dispatcher:
    """The batch dispatcher of this service (also used by tests and benchmarks)."""
    return Dispatcher(
        router=ROUTER,
        sessionmaker=ctx.sessionmaker,
        settings=ctx.settings,
        publisher=ctx.bus,
        log_writer=log_call_and_answer,
    )


async def setup(ctx: ServiceContext) -> None:
    """Declare `csms.transactions` with the route table's bindings and consume it in batches."""
    await ctx.bus.declare_service_queue(TRANSACTIONS_QUEUE, ROUTER.bindings())
    await ctx.bus.consume(
        TRANSACTIONS_QUEUE, build_dispatcher(ctx), max_batch=ctx.settings.consumer_prefetch
    )


def main() -> None:
    """Run the transactions service until SIGTERM/SIGINT."""
    run_consumer_service("transactions", setup)
