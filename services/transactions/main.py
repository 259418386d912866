"""`csms transactions`: Authorize, Start/StopTransaction, MeterValues from csms.transactions."""

from __future__ import annotations

from services.transactions import reservation_expiry, sweeper
from services.transactions.routes import ROUTER
from shared.bus.topology import TRANSACTIONS_QUEUE
from shared.messagelog import log_call_and_answer
from shared.service import ServiceContext, consume_router, run_consumer_service


async def setup(ctx: ServiceContext) -> None:
    """Declare the service's queues with the route table's bindings and consume them; run
    the stale transaction sweep and the reservation expiry sweep."""
    await consume_router(ctx, TRANSACTIONS_QUEUE, ROUTER, log_writer=log_call_and_answer)
    sweeper.start(ctx)
    reservation_expiry.start(ctx)


def main() -> None:
    """Run the transactions service until SIGTERM/SIGINT."""
    run_consumer_service("transactions", setup)
