"""`csms registry`: charge points, boot, heartbeats, status, connections, from csms.registry."""

from __future__ import annotations

import asyncio

from services.registry import base_report
from services.registry.certificates import CertificateDelivery
from services.registry.routes import ROUTER
from shared.bus.topology import REGISTRY_QUEUE
from shared.command_outbox import CommandSweeper
from shared.messagelog import log_call_and_answer
from shared.service import ServiceContext, consume_router, run_consumer_service


async def setup(ctx: ServiceContext) -> None:
    """Declare the service's queues with the route table's bindings and consume them (and
    the first-boot base report's); run the command sweeper (abandoned pending commands,
    lagging command effects) and the certificate delivery."""
    await consume_router(ctx, REGISTRY_QUEUE, ROUTER, log_writer=log_call_and_answer)
    # The first-boot GetBaseReport of 2.0.1 stations (csms.registry.base-report).
    await consume_router(ctx, REGISTRY_QUEUE, base_report.build_router(ctx.bus, ctx.sessionmaker))
    # Accepted CSRs: signed and sent with CertificateSigned (certificates.py).
    delivery = CertificateDelivery(ctx.sessionmaker, ctx.bus, ctx.settings)
    await delivery.start()
    sweeper = CommandSweeper(ctx.sessionmaker, ctx.bus)
    task = asyncio.create_task(sweeper.run(ctx.stopping), name="command-sweeper")
    certificate_sweep = asyncio.create_task(delivery.run(ctx.stopping), name="certificate-sweeper")

    async def stop_sweeper() -> None:
        task.cancel()
        certificate_sweep.cancel()
        await asyncio.gather(task, certificate_sweep, return_exceptions=True)

    ctx.on_shutdown(stop_sweeper)


def main() -> None:
    """Run the registry service until SIGTERM/SIGINT."""
    run_consumer_service("registry", setup)
