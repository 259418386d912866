"""The stale sweep: open transactions idle past the grace period are closed Stale / Rebooted.

`idle_since` is set when the connector of an open transaction is reported Available (or it
was already Available when its charge point booted, events.py). Every few seconds each
transactions process closes those still open CSMS_STALE_TRANSACTION_GRACE seconds later
(closing.py: estimate = the last reading; reason Rebooted when `rebooted_at` is set, else
Stale; `transaction.stopped` with `closed_by: csms`). Replicas sweep concurrently: the rows
are locked in ascending id order (locks.py) and the close re-checks `status = Active`, so a
transaction is closed once and a stop that won the race is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from sqlalchemy import select

from services.transactions.closing import close_estimated, closed_event, rebooted_or_stale
from services.transactions.tables import TRANSACTION
from shared.db.enums import TX_ACTIVE
from shared.envelope import Envelope, event, utcnow
from shared.txevents import TRANSACTION_STOPPED

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.service import ServiceContext

log = logging.getLogger(__name__)

BATCH: Final = 500
"""Transactions closed per database transaction (a storm's backlog takes a few rounds)."""
MIN_INTERVAL: Final = 0.5
MAX_INTERVAL: Final = 30.0


def interval_for(grace: float) -> float:
    """Seconds between sweeps: a quarter of the grace, within [0.5 s, 30 s]."""
    return min(MAX_INTERVAL, max(MIN_INTERVAL, grace / 4))


async def close_stale(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime, grace: float
) -> list[Envelope]:
    """Close what has been idle for `grace` seconds at `now` (one round, at most BATCH);
    the `transaction.stopped` events to publish."""
    t = TRANSACTION.c
    cutoff = now - timedelta(seconds=grace)
    async with sessionmaker() as session, session.begin():
        ids = list(
            (
                await session.execute(
                    select(t.transaction_id)
                    .where(t.status == TX_ACTIVE, t.idle_since <= cutoff)
                    .order_by(t.transaction_id)
                    .limit(BATCH)
                    .with_for_update(key_share=True)  # FOR NO KEY UPDATE, in id order
                )
            ).scalars()
        )
        closed = await close_estimated(session, ids, reason=rebooted_or_stale(), now=now)
    for row in closed:
        log.warning(
            "transaction %s of %s closed %s: connector idle for %ss without a stop",
            row.transaction_id,
            row.chargepoint_id,
            row.reason_stopped,
            grace,
            extra={"transaction_id": row.transaction_id, "anomaly": "stale_transaction"},
        )
    return [event(TRANSACTION_STOPPED, closed_event(row), row.chargepoint_id) for row in closed]


Publish = Callable[[Envelope], Awaitable[None]]


async def sweep_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    publish: Publish,
    *,
    grace: float,
    stopping: asyncio.Event,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Sweep every `interval_for(grace)` seconds until `stopping` is set."""
    interval = interval_for(grace)
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
        if stopping.is_set():
            return
        try:
            while events := await close_stale(sessionmaker, now=clock(), grace=grace):
                for ev in events:
                    try:
                        await publish(ev)
                    except Exception as exc:  # noqa: BLE001 - the close is committed
                        log.error("event %s not published after commit: %r", ev.action, exc)
                if len(events) < BATCH:
                    break
        except Exception:
            log.exception("stale transaction sweep failed; retrying in %ss", interval)


def start(ctx: ServiceContext) -> None:
    """Run the sweep in the service's process; stopped at shutdown."""
    task = asyncio.create_task(
        sweep_forever(
            ctx.sessionmaker,
            ctx.bus.publish_event,
            grace=ctx.settings.stale_transaction_grace,
            stopping=ctx.stopping,
        ),
        name="stale-transaction-sweep",
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    ctx.on_shutdown(stop)
