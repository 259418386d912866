"""`csms webhooks`: relays the event outbox to csms.events and delivers events to webhooks.

Three parts in one process (docs/events.md):
- the outbox relay (shared/events/outbox.py): committed events -> `csms.events`;
- the intake: `public.v1.*` from the durable quorum queue `csms.webhooks` (single active
  consumer: deliveries are recorded in the relay's order) -> delivery rows;
- the deliverer (services/webhooks/delivery.py): delivery rows -> signed HTTP POSTs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.webhooks.delivery import Deliverer
from services.webhooks.intake import ROUTER, WEBHOOKS_QUEUE
from shared.bus import topology
from shared.dispatch import Dispatcher
from shared.events.outbox import OutboxRelay
from shared.service import ServiceContext, run_consumer_service


async def declare_intake(ctx: ServiceContext) -> None:
    """Declare `csms.webhooks` (quorum, single active consumer) bound to every public type."""
    arguments = {
        **topology.service_queue_arguments(ctx.bus.delivery_limit),
        "x-single-active-consumer": True,
    }
    queue = await ctx.bus.channel.declare_queue(WEBHOOKS_QUEUE, durable=True, arguments=arguments)
    for exchange, key in ROUTER.bindings():
        await queue.bind(exchange, key)


async def setup(ctx: ServiceContext) -> None:
    """Start the relay, the intake consumer and the deliverer."""
    relay = OutboxRelay(
        ctx.sessionmaker,
        ctx.bus,
        interval=ctx.settings.events_relay_interval,
        retention=timedelta(hours=ctx.settings.events_retention_hours),
    )
    deliverer = Deliverer(ctx.sessionmaker, ctx.settings)
    dispatcher = Dispatcher(
        router=ROUTER,
        sessionmaker=ctx.sessionmaker,
        settings=ctx.settings,
        publisher=ctx.bus,
        service=ctx.name,
    )

    async def intake(deliveries):  # type: ignore[no-untyped-def]
        replies = await dispatcher(deliveries)
        deliverer.wake.set()
        return replies

    await declare_intake(ctx)
    await ctx.bus.consume(WEBHOOKS_QUEUE, intake, max_batch=ctx.settings.consumer_prefetch)
    tasks = [
        asyncio.create_task(relay.run(ctx.stopping), name="event-relay"),
        asyncio.create_task(deliverer.run(ctx.stopping), name="webhook-deliverer"),
    ]

    async def stop() -> None:
        # `stopping` is set: both loops end (the deliverer lets its deliveries finish).
        await asyncio.gather(*tasks, return_exceptions=True)

    ctx.on_shutdown(stop)


def main() -> None:
    """Run the webhooks service until SIGTERM/SIGINT."""
    run_consumer_service("webhooks", setup)
