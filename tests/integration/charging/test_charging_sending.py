"""Commands to charge points go out with no transaction open; their outcomes are recorded in
a second transaction keyed by the decision (services/charging/sending.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from services.charging.installer import Installer
from services.charging.loadmanager import LOCK_CLASS, Busy, Plan, Sent, decide, record
from services.charging.routes import build_router
from services.charging.sending import send_limits
from shared.bus.topology import EVENTS
from shared.charging import INSTALL_PROFILE
from shared.commands import CommandOutcome, Result
from shared.db.models import ChargingProfile
from shared.dispatch import Dispatcher, HandlerContext, Payload, Route, Router
from shared.envelope import Envelope, event
from shared.messages import NoFields
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher, Sql

from .conftest import LOCATION, FakeChargePoints

pytestmark = pytest.mark.integration

FAIL = "test.batch_fails"


class BatchFailed(Exception):
    """What makes the dispatcher's batch transaction roll back in these tests."""


async def fail(ctx: HandlerContext, env: Envelope, req: NoFields) -> Payload | None:
    raise BatchFailed("a later message of the batch fails")


def dispatcher_with_a_failing_route(
    fleet: FakeChargePoints, db: async_sessionmaker[AsyncSession]
) -> Dispatcher:
    routes = list(build_router(Installer(fleet), db).routes.values())
    return Dispatcher(
        router=Router([*routes, Route(EVENTS, FAIL, fail, NoFields, log_message=False)]),
        sessionmaker=db,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )


async def start_transaction(sql: Sql, cp: str) -> int:
    rows = await sql(
        "insert into transaction (chargepoint_id, connectorid, start_transaction_timestamp,"
        " wh_meter_start, wh_meter_last, id_tag, start_message_id)"
        " values (:cp, 1, now(), 0, 0, 'TAG', :m) returning transaction_id",
        cp=cp,
        m=uuid.uuid4().hex,
    )
    await sql(
        "update connector set connector_status = 'Charging' where chargepoint_id = :cp", cp=cp
    )
    return int(rows[0]["transaction_id"])


def started(cp: str, tid: int) -> FakeDelivery:
    return FakeDelivery(
        event("transaction.started", {"transaction_id": tid, "connector_id": 1}, cp),
        "transaction.started",
    )


async def test_accepted_limits_stay_recorded_when_the_batch_fails(
    site: list[str],
    sql: Sql,
    fleet: FakeChargePoints,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cp = site[0]
    tid = await start_transaction(sql, cp)
    dispatcher = dispatcher_with_a_failing_route(fleet, db_sessionmaker)
    with pytest.raises(BatchFailed):
        await dispatcher([started(cp, tid), FakeDelivery(event(FAIL, {}, cp), FAIL)])

    assert fleet.balanced[(cp, 1)] == (tid, Decimal(32))  # the charge point accepted
    rows = await sql(
        "select installed_limit, status from balancing_allocation where transaction_id = :t",
        t=tid,
    )
    assert rows == [{"installed_limit": Decimal(32), "status": "Installed"}]
    decisions = await sql(
        "select sent from balancing_decision where location_uuid = :u", u=LOCATION
    )
    assert [d["sent"][0]["outcome"] for d in decisions] == ["Accepted"]


async def test_an_accepted_profile_stays_installed_when_the_batch_fails(
    site: list[str],
    sql: Sql,
    fleet: FakeChargePoints,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cp = site[0]
    async with db_sessionmaker() as session, session.begin():
        profile = ChargingProfile(
            chargepoint_id=cp,
            connector_id=0,
            stack_level=1,
            chargingprofile_purpose="ChargePointMaxProfile",
            chargingprofile_kind="Relative",
            charging_rate_unit="A",
            chargingschedule_period=[{"startPeriod": 0, "limit": 16}],
        )
        session.add(profile)
    dispatcher = dispatcher_with_a_failing_route(fleet, db_sessionmaker)
    install = event(INSTALL_PROFILE, {"chargingprofile_id": profile.chargingprofile_id})
    with pytest.raises(BatchFailed):
        await dispatcher(
            [FakeDelivery(install, INSTALL_PROFILE), FakeDelivery(event(FAIL, {}, cp), FAIL)]
        )

    assert profile.chargingprofile_id in fleet.profiles[(cp, 0)]
    rows = await sql(
        "select status from charging_profile_installation where chargingprofile_id = :p",
        p=profile.chargingprofile_id,
    )
    assert rows == [{"status": "Installed"}]


class SlowChargePoints(FakeChargePoints):
    """Charge points that answer only when the test lets them."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.answer = asyncio.Event()

    async def __call__(
        self, *, chargepoint_id: str, action: str, payload: dict[str, Any]
    ) -> CommandOutcome:
        self.waiting.set()
        await self.answer.wait()
        return await super().__call__(chargepoint_id=chargepoint_id, action=action, payload=payload)


async def test_no_connection_or_lock_is_held_while_a_charge_point_is_waited_on(
    site: list[str],
    sql: Sql,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    slow = SlowChargePoints()
    slow.online = set(site)
    cp = site[0]
    tid = await start_transaction(sql, cp)
    dispatcher = Dispatcher(
        router=build_router(Installer(slow), db_sessionmaker),
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )
    pool = db_engine.pool
    assert isinstance(pool, QueuePool)
    batch = asyncio.create_task(dispatcher([started(cp, tid)]))
    await asyncio.wait_for(slow.waiting.wait(), 60)

    checked_out = pool.checkedout()
    locks = await sql(
        # Only this test database's locks: other suites on the same server take the same class.
        "select count(*) as n from pg_locks where locktype = 'advisory' and classid = :c"
        " and database = (select oid from pg_database where datname = current_database())",
        c=LOCK_CLASS,
    )
    open_transactions = await sql(
        "select count(*) as n from pg_stat_activity where datname = current_database()"
        " and state like 'idle in transaction%' and pid <> pg_backend_pid()"
    )
    # Meanwhile another replica decides on the same location: it is told to wait its turn
    # (the decision is still sending), it does not block on a lock.
    async with db_sessionmaker() as session, session.begin():
        other = await decide(
            session,
            location_uuid=uuid.UUID(LOCATION),
            trigger="test",
            now=await _now(sql),
            lease=60,
        )
    slow.answer.set()
    await batch

    assert checked_out == 0
    assert locks == [{"n": 0}]
    assert open_transactions == [{"n": 0}]
    assert isinstance(other, Busy)
    rows = await sql(
        "select installed_limit from balancing_allocation where transaction_id = :t", t=tid
    )
    assert rows == [{"installed_limit": Decimal(32)}]


async def _now(sql: Sql) -> datetime:
    moment = (await sql("select now() as t"))[0]["t"]
    assert isinstance(moment, datetime)
    return moment


async def test_recording_is_keyed_by_the_decision(
    site: list[str],
    sql: Sql,
    fleet: FakeChargePoints,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cp = site[0]
    tid = await start_transaction(sql, cp)
    decide_now = await _now(sql)
    async with db_sessionmaker() as session, session.begin():
        plan = await decide(
            session, location_uuid=uuid.UUID(LOCATION), trigger="test", now=decide_now, lease=60
        )
    assert isinstance(plan, Plan)
    sent = await send_limits(Installer(fleet), plan)
    async with db_sessionmaker() as session, session.begin():
        await record(session, plan, sent)
    # The same decision recorded again (a retry), now with other outcomes: nothing changes.
    rejected = Sent({tid: Result({"status": "Rejected"})}, blocked=False)
    async with db_sessionmaker() as session, session.begin():
        again = await record(session, plan, rejected)

    assert [e["outcome"] for e in again.sent] == ["Accepted"]
    rows = await sql(
        "select installed_limit, status from balancing_allocation where transaction_id = :t",
        t=tid,
    )
    assert rows == [{"installed_limit": Decimal(32), "status": "Installed"}]
    # One charging.limit_changed for the accepted limit; the repeated record adds none.
    events = await sql(
        "select type, data from event_outbox where chargepoint_id = :cp and type like 'charging.%'",
        cp=cp,
    )
    assert [(e["type"], e["data"]["transaction_id"], e["data"]["limit"]) for e in events] == [
        ("charging.limit_changed", tid, 32.0)
    ]
    assert events[0]["data"]["location_id"] == LOCATION


@pytest.mark.parametrize("lease", [60.0, 0.0])
async def test_a_claim_older_than_its_lease_is_taken_for_dead(
    site: list[str],
    sql: Sql,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    lease: float,
) -> None:
    tid = await start_transaction(sql, site[0])
    plan_now = await _now(sql)
    async with db_sessionmaker() as session, session.begin():
        plan = await decide(
            session,
            location_uuid=uuid.UUID(LOCATION),
            trigger="crashed replica",
            now=plan_now,
            lease=60,
        )
    assert isinstance(plan, Plan)  # ... and its replica never records
    async with db_sessionmaker() as session, session.begin():
        step = await decide(
            session,
            location_uuid=uuid.UUID(LOCATION),
            trigger="test",
            now=plan_now + timedelta(seconds=1),
            lease=lease,
        )
    if lease > 1:
        assert step == Busy(plan.decision_id)
    else:
        # Expired: this recomputation goes ahead (the limit is still unknown: sent again).
        assert isinstance(step, Plan)
        assert [a.transaction_id for a in step.up] == [tid]
