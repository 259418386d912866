"""The reservation expiry sweep: Active reservations past their expiry date become Expired.

OCPP 1.6 §5.13: "The reservation SHALL be terminated on the Charge Point when ... the time
specified in expiryDate is reached"; the 1.6 charge point tells nobody, so without this
sweep its reservation stayed Active (and `reservation.expired` was never sent). OCPP 2.0.1
H01.FR.16/17 has the station report it (ReservationStatusUpdate Expired), but not every
station does, and not at once (it may be offline). So every transactions process, every
CSMS_RESERVATION_EXPIRY_INTERVAL seconds, ends the reservations of both versions whose
`expiry_date` has been reached:

    UPDATE reservation SET status = 'Expired'
    WHERE uuid IN (SELECT uuid ... WHERE status = 'Active' AND expiry_date <= now
                   FOR UPDATE SKIP LOCKED LIMIT n) AND status = 'Active'
    RETURNING ...

and writes one `reservation.expired` event per returned row into the event outbox in the
same transaction. A reservation ends once whoever gets there first: replicas skip the rows
another one holds and re-check `status = 'Active'`; a StartTransaction using it, a
CancelReservation or the station's own ReservationStatusUpdate Expired (end_reservation,
reservations.py) update only an Active row, so the later one changes nothing and emits
nothing. The reservation no longer holds its connector or id tag: it leaves the Active
reservations (`GET /api/v1/reservations?status=Active`), and a start naming it is no longer
matched to it (logged, as an unknown reservation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select, update

from services.transactions.tables import RESERVATION
from shared.envelope import utcnow
from shared.events.outbox import PublicEvent, stage
from shared.ocpp import format_datetime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.service import ServiceContext
    from shared.settings import Settings

log = logging.getLogger(__name__)

BATCH: Final = 500
"""Reservations expired per database transaction."""


def expired_event(row: Any) -> PublicEvent:
    """`reservation.expired` of a reservation the CSMS ended at its expiry date."""
    return PublicEvent(
        "reservation.expired",
        {
            "reservation_id": row.reservation_id,
            "connector_id": row.connectorid,
            "id_tag": row.id_tag,
            "expiry_date": format_datetime(row.expiry_date),
            "source": "csms",
        },
        row.chargepoint_id,
        id_tag=row.id_tag,
    )


async def expire_due(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime
) -> list[Any]:
    """One round: the Active reservations whose expiry date is at or before `now` (at most
    BATCH) become Expired, with their events; the rows ended."""
    r = RESERVATION.c
    async with sessionmaker() as session, session.begin():
        due = (
            select(r.uuid)
            .where(r.status == "Active", r.expiry_date <= now)
            .order_by(r.expiry_date, r.uuid)
            .limit(BATCH)
            .with_for_update(skip_locked=True)  # another replica's rows: theirs
            .scalar_subquery()
        )
        ended = list(
            await session.execute(
                update(RESERVATION)
                .where(r.uuid.in_(due), r.status == "Active")
                .values(status="Expired", updated_at=now)
                .returning(
                    r.chargepoint_id, r.reservation_id, r.connectorid, r.id_tag, r.expiry_date
                )
            )
        )
        await stage(session, [expired_event(row) for row in ended], settings, now=now)
    for row in ended:
        log.info(
            "reservation %s of %s expired at %s",
            row.reservation_id,
            row.chargepoint_id,
            row.expiry_date,
            extra={"reservation_id": row.reservation_id},
        )
    return ended


async def expire_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    stopping: asyncio.Event,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Sweep every CSMS_RESERVATION_EXPIRY_INTERVAL seconds until `stopping` is set."""
    interval = settings.reservation_expiry_interval
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval)
        if stopping.is_set():
            return
        try:
            while len(await expire_due(sessionmaker, settings, now=clock())) >= BATCH:
                pass
        except Exception:
            log.exception("reservation expiry sweep failed; retrying in %ss", interval)


def start(ctx: ServiceContext) -> None:
    """Run the sweep in the service's process; stopped at shutdown."""
    task = asyncio.create_task(
        expire_forever(ctx.sessionmaker, ctx.settings, stopping=ctx.stopping),
        name="reservation-expiry-sweep",
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    ctx.on_shutdown(stop)
