"""The send and record steps: no database transaction, lock or connection is held while a
charge point is waited on.

Every command the charging service sends goes through here, in three steps (Netflix
dispatch's "side effects after commit"):

1. **decide** in one short transaction and commit (the balancer's decision row lists its
   sends as "sending"; a profile install only reads the profile);
2. **send** with no transaction open (up to the command timeout per charge point);
3. **record** the outcomes in a second short transaction, keyed by the decision (the
   decision row, the installation's primary key), so recording twice changes nothing.

What a charge point accepted is therefore recorded even when something else fails later
(the old single transaction rolled installs back that charge points had accepted), and a
burst of events never holds pooled connections or the location's advisory lock for the
length of a command timeout. The handlers (`handlers/`) call these functions with the
service's sessionmaker; they never use the dispatcher's batch session.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, String, Table, any_, bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.charging.installer import AS_16, Installed, Installer, Station
from services.charging.loadmanager import (
    Busy,
    Decision,
    Plan,
    Sent,
    accepted,
    decide,
    location_of,
    record,
)
from shared.charging import balancing
from shared.charging.schedule import CHARGE_POINT_MAX, STATION_MAX, TX_DEFAULT
from shared.commands import CommandOutcome, NotConnected, TimedOut
from shared.db.models import BalancingAllocation, ChargePoint, ChargingProfile, Transaction

log = logging.getLogger(__name__)

Db = async_sessionmaker[AsyncSession]

SEND_TIMEOUT_CAP: Final = 15.0
"""Seconds a balancing command may wait at most (CSMS_COMMAND_TIMEOUT if lower)."""
CLAIM_LEASE: Final = 2 * SEND_TIMEOUT_CAP + 10.0
"""Seconds a decision may stay "sending" (two rounds of sends and margin): past that its
replica is taken for dead and the next recomputation of the location goes ahead."""
BUSY_POLL: Final = 0.2
"""Seconds between two attempts while another recomputation of the location is sending."""


async def send_limits(installer: Installer, plan: Plan) -> Sent:
    """Send the changed limits of a plan: decreases, then (if they held) the increases.

    The increases follow only if every decrease was accepted or its charge point is
    offline, so the sum of the limits known to be installed never passes the grid limit.
    """
    outcomes: dict[int, CommandOutcome] = {}

    async def send(batch: Sequence[balancing.Allocation]) -> None:
        answers = await asyncio.gather(
            *(
                installer.set_balancing_limit(
                    chargepoint_id=a.chargepoint_id,
                    connector_id=a.connector_id,
                    transaction_id=a.transaction_id,
                    limit=a.limit,
                    unit=plan.unit,
                    station=plan.stations.get(a.transaction_id, AS_16),
                )
                for a in batch
            )
        )
        outcomes.update(zip((a.transaction_id for a in batch), answers, strict=True))

    await send(plan.down)
    blocked = [
        a
        for a in plan.down
        if not accepted(outcomes[a.transaction_id])
        and not isinstance(outcomes[a.transaction_id], NotConnected)
    ]
    if blocked:
        log.warning(
            "location %s: %d limit decrease(s) not accepted; increases deferred",
            plan.location_uuid,
            len(blocked),
        )
    else:
        await send(plan.up)
    return Sent(outcomes, bool(blocked))


async def rebalance(
    db: Db,
    installer: Installer,
    *,
    location_uuid: uuid.UUID,
    trigger: str,
    now: datetime,
    chargepoint_id: str | None = None,
    lease: float = CLAIM_LEASE,
) -> Decision | None:
    """Recompute `location_uuid`, send the changed limits, record the answers.

    None when the location has no grid limit. While another recomputation of the location
    is sending, waits (no connection held) until it has recorded, or its lease ran out.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        # The handler's clock, advanced by the time spent waiting for the location.
        current = now + timedelta(seconds=loop.time() - started)
        async with db() as session, session.begin():
            step = await decide(
                session,
                location_uuid=location_uuid,
                trigger=trigger,
                now=current,
                chargepoint_id=chargepoint_id,
                lease=lease,
            )
        if not isinstance(step, Busy):
            break
        await asyncio.sleep(BUSY_POLL)
    if not isinstance(step, Plan):
        return step
    try:
        sent = await send_limits(installer, step)
    except Exception:
        # Whatever was not answered is unknown: record it so, and free the location now.
        unknown: dict[int, CommandOutcome] = {
            a.transaction_id: TimedOut("send failed") for a in step.down + step.up
        }
        async with db() as session, session.begin():
            await record(session, step, Sent(unknown, blocked=False))
        raise
    async with db() as session, session.begin():
        return await record(session, step, sent)


async def rebalance_chargepoint(
    db: Db, installer: Installer, *, chargepoint_id: str, trigger: str, now: datetime
) -> Decision | None:
    """Rebalance the location of a charge point (None: it has none, or it is unbalanced)."""
    async with db() as session:
        location = await location_of(session, chargepoint_id)
    if location is None:
        return None
    return await rebalance(
        db,
        installer,
        location_uuid=location,
        trigger=trigger,
        now=now,
        chargepoint_id=chargepoint_id,
    )


async def load_profile(db: Db, profile_id: int) -> ChargingProfile | None:
    """A stored profile, read in a short transaction (usable after it: no lazy loads)."""
    async with db() as session:
        return await session.get(ChargingProfile, profile_id)


async def station_of(db: Db, profile: ChargingProfile) -> Station:
    """The version of the profile's station and, for a TxProfile, its transactionId."""
    async with db() as session:
        version = await session.scalar(
            select(ChargePoint.ocpp_version).where(
                ChargePoint.chargepoint_id == profile.chargepoint_id
            )
        )
        remote = None
        if profile.transaction_id is not None:
            remote = await session.scalar(
                select(Transaction.remote_transaction_id).where(
                    Transaction.transaction_id == profile.transaction_id
                )
            )
    return Station(version, remote)


async def install_profile(db: Db, installer: Installer, profile: ChargingProfile) -> Installed:
    """Send SetChargingProfile for a stored profile (in its station's version), then record
    the outcome."""
    outcome = await installer.send_install(profile, await station_of(db, profile))
    async with db() as session, session.begin():
        return await installer.record_install(session, profile, outcome)


async def clear_profile(db: Db, installer: Installer, profile: ChargingProfile) -> Installed | None:
    """ClearChargingProfile(id) wherever `profile` is installed or pending; record each.

    None when it is installed nowhere.
    """
    async with db() as session:
        targets = await installer.clear_targets(session, profile)
    last: Installed | None = None
    for target in targets:
        outcome = await installer.send_clear(profile.chargingprofile_id, target)
        async with db() as session, session.begin():
            last = await installer.record_clear(
                session, profile.chargingprofile_id, target, outcome
            )
    return last


PROFILES_TO_REINSTALL = (
    select(ChargingProfile)
    .where(
        ChargingProfile.chargepoint_id == bindparam("cp_id"),
        ChargingProfile.chargingprofile_purpose.in_((CHARGE_POINT_MAX, STATION_MAX, TX_DEFAULT)),
    )
    .order_by(ChargingProfile.chargingprofile_id)
)
"""Built once: every connect of every charge point runs it."""

FORGET_INSTALLED_LIMITS = (
    update(BalancingAllocation)
    .where(BalancingAllocation.chargepoint_id == bindparam("cp_id"))
    .values(installed_limit=None, status="Pending")
)


_profile_t: Table = ChargingProfile.__table__  # type: ignore[assignment]
_allocation_t: Table = BalancingAllocation.__table__  # type: ignore[assignment]
_chargepoint_t: Table = ChargePoint.__table__  # type: ignore[assignment]
_REINSTALL = exists().where(
    _profile_t.c.chargepoint_id == bindparam("cp_id"),
    # An array parameter, not IN (...): an expanding IN is compiled again on every call.
    _profile_t.c.chargingprofile_purpose
    == any_(
        bindparam(
            "purposes", value=[CHARGE_POINT_MAX, STATION_MAX, TX_DEFAULT], type_=ARRAY(String())
        )
    ),
)
_LOCATION = (
    select(_chargepoint_t.c.location_uuid)
    .where(_chargepoint_t.c.chargepoint_id == bindparam("cp_id"))
    .scalar_subquery()
)


def _forget_and_locate(*, unless_reinstall: bool) -> Select[Any]:
    forget = update(_allocation_t).where(_allocation_t.c.chargepoint_id == bindparam("cp_id"))
    if unless_reinstall:
        forget = forget.where(~_REINSTALL)
    cte = (
        forget.values(installed_limit=None, status="Pending")
        .returning(_allocation_t.c.chargepoint_id)
        .cte("forgotten")
    )
    # A data-modifying CTE runs whether or not it is read; SQLAlchemy renders it only when
    # it is referenced, hence the count.
    forgotten = select(func.count()).select_from(cte).scalar_subquery()
    columns = [_LOCATION.label("location"), forgotten.label("forgotten")]
    if unless_reinstall:
        columns.append(_REINSTALL.label("reinstall"))
    return select(*columns)


RECONNECTED = _forget_and_locate(unless_reinstall=True)
"""ONE statement, built once, for a connect: whether profiles are to be sent again, the
balancer's limits forgotten unless they are (then they are forgotten after the sending), and
the location. Core, not ORM: no per-call ORM compile state."""
DISCONNECTED = _forget_and_locate(unless_reinstall=False)
"""ONE statement, built once, for a disconnect: the limits forgotten and the location."""


async def reconnected(db: Db, installer: Installer, chargepoint_id: str) -> uuid.UUID | None:
    """A charge point (re)connected: send again every ChargePointMax / TxDefault profile
    targeted at it, forget the balancer's limits it held (unknown until the next rebalance
    sends them); returns its location (None: not balanced).

    The common case, a charge point with no stored profile to send again, is ONE statement
    (`RECONNECTED`: forget the limits, read the location): a connect is frequent (every
    reconnect of every station, a whole region after a power cut) and costs the charging
    service no more. With profiles, they are sent outside any transaction, then the limits
    forgotten.
    """
    params = {"cp_id": chargepoint_id}
    async with db() as session, session.begin():
        row = (await session.execute(RECONNECTED, params)).one()
        location: uuid.UUID | None = row.location
        rows = list(await session.scalars(PROFILES_TO_REINSTALL, params)) if row.reinstall else []
    if rows:
        for profile in rows:
            await install_profile(db, installer, profile)
        await forget_installed_limits(db, chargepoint_id)
    return location


async def disconnected(db: Db, chargepoint_id: str) -> uuid.UUID | None:
    """A charge point went offline: forget the balancer's limits it held, in the same
    statement that reads its location (returned; None: not balanced)."""
    async with db() as session, session.begin():
        row = (await session.execute(DISCONNECTED, {"cp_id": chargepoint_id})).one()
    location: uuid.UUID | None = row.location
    return location


async def forget_installed_limits(db: Db, chargepoint_id: str) -> None:
    """What the charge point holds of the balancer's limits is unknown (offline, reboot)."""
    async with db() as session, session.begin():
        await session.execute(FORGET_INSTALLED_LIMITS, {"cp_id": chargepoint_id})
