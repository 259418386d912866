"""`csms charging`: charging profiles and site load balancing, from the `csms.charging` queue."""

from __future__ import annotations

from typing import Final

from services.charging.installer import Installer, bus_sender
from services.charging.routes import build_router
from shared.bus.topology import CHARGING_QUEUE
from shared.service import ServiceContext, consume_router, run_consumer_service

MAX_BATCH: Final = 20
"""Handlers send commands and wait for the answers inside the batch's transaction (the
location lock must cover the sends), so batches stay small."""
BALANCING_TIMEOUT_CAP: Final = 15.0
"""Seconds a balancing command may wait at most (CSMS_COMMAND_TIMEOUT if lower)."""


async def setup(ctx: ServiceContext) -> None:
    """Declare `csms.charging` (events) and `csms.charging.rpc` (API requests); consume both."""
    timeout = min(ctx.settings.command_timeout, BALANCING_TIMEOUT_CAP)
    router = build_router(Installer(bus_sender(ctx.bus, timeout=timeout)))
    await consume_router(ctx, CHARGING_QUEUE, router, max_batch=MAX_BATCH)


def main() -> None:
    """Run the charging service until SIGTERM/SIGINT."""
    run_consumer_service("charging", setup)
