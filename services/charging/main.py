"""`csms charging`: charging profiles and site load balancing, from the `csms.charging` queue."""

from __future__ import annotations

from typing import Final

from services.charging.installer import Installer, bus_sender
from services.charging.routes import build_router
from services.charging.sending import SEND_TIMEOUT_CAP
from shared.bus.topology import CHARGING_QUEUE
from shared.messagelog import log_call_and_answer
from shared.service import ServiceContext, consume_router, run_consumer_service

MAX_BATCH: Final = 20
"""Handlers wait for charge points' answers (outside any transaction, sending.py), one
event after the other: small batches keep the wait for the last event of a batch short."""


async def setup(ctx: ServiceContext) -> None:
    """Declare `csms.charging` (events) and `csms.charging.rpc` (API requests); consume both."""
    timeout = min(ctx.settings.command_timeout, SEND_TIMEOUT_CAP)
    router = build_router(Installer(bus_sender(ctx.bus, timeout=timeout)), ctx.sessionmaker)
    # The 2.0.1 smart-charging messages routed here are logged like the registry's.
    await consume_router(
        ctx, CHARGING_QUEUE, router, log_writer=log_call_and_answer, max_batch=MAX_BATCH
    )


def main() -> None:
    """Run the charging service until SIGTERM/SIGINT."""
    run_consumer_service("charging", setup)
