"""`csms registry`: charge points, boot, heartbeats, status, connections, from csms.registry."""

from __future__ import annotations

from services.registry.routes import ROUTER
from shared.bus.topology import REGISTRY_QUEUE
from shared.messagelog import log_call_and_answer
from shared.service import ServiceContext, consume_router, run_consumer_service


async def setup(ctx: ServiceContext) -> None:
    """Declare the service's queues with the route table's bindings and consume them."""
    await consume_router(ctx, REGISTRY_QUEUE, ROUTER, log_writer=log_call_and_answer)


def main() -> None:
    """Run the registry service until SIGTERM/SIGINT."""
    run_consumer_service("registry", setup)
