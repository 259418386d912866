"""`csms charging`: charging profiles and site load balancing, from the `csms.charging` queue."""

from __future__ import annotations

from typing import Final

from services.charging.installer import Installer, bus_sender
from services.charging.routes import build_router
from shared.bus.topology import CHARGING_QUEUE
from shared.dispatch import Dispatcher
from shared.service import ServiceContext, run_consumer_service

MAX_BATCH: Final = 20
"""Handlers send commands and wait for the answers inside the batch's transaction (the
location lock must cover the sends), so batches stay small."""
BALANCING_TIMEOUT_CAP: Final = 15.0
"""Seconds a balancing command may wait at most (CSMS_COMMAND_TIMEOUT if lower)."""


def build_dispatcher(ctx: ServiceContext, installer: Installer | None = None) -> Dispatcher:
    """The batch dispatcher of this service (tests pass an Installer with a fake sender)."""
    if installer is None:
        timeout = min(ctx.settings.command_timeout, BALANCING_TIMEOUT_CAP)
        installer = Installer(bus_sender(ctx.bus, timeout=timeout))
    return Dispatcher(
        router=build_router(installer),
        sessionmaker=ctx.sessionmaker,
        settings=ctx.settings,
        publisher=ctx.bus,
    )


async def setup(ctx: ServiceContext) -> None:
    """Declare `csms.charging` bound to its event keys and consume it in small batches."""
    dispatcher = build_dispatcher(ctx)
    await ctx.bus.declare_service_queue(CHARGING_QUEUE, dispatcher.router.bindings())
    await ctx.bus.consume(CHARGING_QUEUE, dispatcher, max_batch=MAX_BATCH)


def main() -> None:
    """Run the charging service until SIGTERM/SIGINT."""
    run_consumer_service("charging", setup)
