"""The event outbox: public events written with their change, numbered per charge point,
relayed to `csms.events` after the commit (shared/events/outbox.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.routes import ROUTER
from shared.bus import Bus
from shared.bus.topology import EVENTS
from shared.dispatch import Dispatcher, HandlerContext, Route, Router
from shared.envelope import Envelope, Kind
from shared.events.catalogue import CATALOGUE, typed_envelope
from shared.events.catalogue import Envelope as PublicEnvelope
from shared.events.outbox import RELAY_LOCK, OutboxRelay, PublicEvent, stage
from shared.events.projection import emit_public
from shared.messagelog import log_call_and_answer
from shared.messages import NoFields
from shared.settings import Settings
from tests.factories import RecordingPublisher, Sql, delivery
from tests.integration.registry.helpers import call, new_cp
from tests.patience import eventually

pytestmark = pytest.mark.integration


def _boot(cp: str) -> Envelope:
    return call(cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})


def _status(cp: str, connector: int, status: str, error: str = "NoError") -> Envelope:
    return call(
        cp,
        "StatusNotification",
        {"connectorId": connector, "status": status, "errorCode": error},
    )


@pytest.fixture
def dispatcher(
    db_sessionmaker: async_sessionmaker[AsyncSession], publisher: RecordingPublisher
) -> Dispatcher:
    return Dispatcher(
        router=ROUTER,
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=publisher,
        log_writer=log_call_and_answer,
    )


async def _events(sql: Sql, cp: str) -> list[dict[str, Any]]:
    return await sql(
        "SELECT type, seq, data, location_id, published_at FROM event_outbox "
        "WHERE chargepoint_id = :cp ORDER BY seq",
        cp=cp,
    )


async def test_a_batch_writes_its_public_events_with_seq_in_order(
    dispatcher: Dispatcher, sql: Sql
) -> None:
    cp = new_cp()
    await dispatcher([delivery(_boot(cp))])
    await dispatcher(
        [
            delivery(_status(cp, 1, "Available")),
            delivery(_status(cp, 1, "Faulted", "GroundFailure")),
        ]
    )
    rows = await _events(sql, cp)
    types = [r["type"] for r in rows]
    assert types[0] == "chargepoint.booted"
    assert "connector.status_changed" in types
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    faulted = [r for r in rows if r["data"].get("status") == "Faulted"]
    assert faulted and faulted[0]["data"]["error_code"] == "GroundFailure"
    assert all(r["published_at"] is None for r in rows)
    # every written event validates against its catalogue model
    for r in rows:
        typed_envelope(CATALOGUE[r["type"]]).model_validate(
            {
                "id": "00000000-0000-0000-0000-000000000000",
                "type": r["type"],
                "occurred_at": "2026-01-01T00:00:00Z",
                "chargepoint_id": cp,
                "location_id": None,
                "seq": r["seq"],
                "data": r["data"],
            }
        )


async def test_a_rolled_back_batch_leaves_no_event(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    cp = new_cp()

    async def accept(ctx: HandlerContext, env: Envelope, req: NoFields) -> None:
        emit_public(
            ctx,
            "authorization.refused",
            {"id_tag": "T", "status": "Invalid", "action": "Authorize"},
            cp,
        )

    async def refuse_after_emit(ctx: HandlerContext, env: Envelope, req: NoFields) -> None:
        await accept(ctx, env, req)
        raise RuntimeError("the change fails")

    router = Router(
        [
            Route(EVENTS, "test.fail", refuse_after_emit, NoFields),
            Route(EVENTS, "test.ok", accept, NoFields),
        ]
    )
    dispatcher = Dispatcher(
        router=router,
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )
    ok = Envelope(kind=Kind.EVENT, action="test.ok", chargepoint_id=cp)
    bad = Envelope(kind=Kind.EVENT, action="test.fail", chargepoint_id=cp)
    with pytest.raises(RuntimeError):
        await dispatcher([delivery(ok), delivery(bad)])
    assert await _events(sql, cp) == []
    publisher = RecordingPublisher()
    dispatcher.publisher = publisher
    await dispatcher([delivery(ok)])
    rows = await _events(sql, cp)
    assert [(r["type"], r["seq"]) for r in rows] == [("authorization.refused", 1)]
    assert publisher.names() == []  # a public-only event is not published internally


async def test_throttled_events_keep_one_per_interval(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    cp = new_cp()
    settings = Settings(events_update_interval=3600)
    for energy in (100, 200, 300):
        async with db_sessionmaker() as session, session.begin():
            await stage(
                session,
                [
                    PublicEvent(
                        "transaction.updated",
                        {"transaction_id": 1, "meter_wh": energy},
                        cp,
                        throttle_key=f"{cp}:1",
                    )
                ],
                settings,
            )
    rows = await _events(sql, cp)
    assert [r["data"]["meter_wh"] for r in rows] == [100]


async def test_concurrent_writers_number_one_charge_point_without_gaps(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    cp = new_cp()

    async def write(i: int) -> None:
        async with db_sessionmaker() as session, session.begin():
            await stage(session, [PublicEvent("security.event", {"type": str(i)}, cp)] * 2)

    await asyncio.gather(*(write(i) for i in range(10)))
    rows = await _events(sql, cp)
    assert sorted(r["seq"] for r in rows) == list(range(1, 21))
    pos = await sql(
        "SELECT seq FROM event_outbox WHERE chargepoint_id = :cp ORDER BY position", cp=cp
    )
    assert [r["seq"] for r in pos] == list(range(1, 21))


async def test_the_relay_publishes_committed_events_once_in_order(
    db_sessionmaker: async_sessionmaker[AsyncSession], bus: Bus, unique_name: Any, sql: Sql
) -> None:
    cp = new_cp()
    queue = unique_name("events")
    got: list[Envelope] = []

    async def handle(deliveries: Any) -> list[None]:
        got.extend(d.envelope for d in deliveries)
        return [None] * len(deliveries)

    await bus.declare_service_queue(queue, [(EVENTS, "public.v1.#")])
    await bus.consume(queue, handle, max_batch=50)
    async with db_sessionmaker() as session, session.begin():
        await stage(
            session, [PublicEvent("security.event", {"type": str(i)}, cp) for i in range(5)]
        )
    relay = OutboxRelay(db_sessionmaker, bus)
    while await relay.relay_once():
        pass

    def all_five() -> list[Envelope]:
        mine = [e for e in got if e.chargepoint_id == cp]
        return mine if len(mine) >= 5 else []

    mine = await eventually(all_five)
    assert [e.payload["seq"] for e in mine] == [1, 2, 3, 4, 5]
    for e in mine:
        PublicEnvelope.model_validate(e.payload)
        assert e.action == "public.v1.security.event"
    rows = await _events(sql, cp)
    assert all(r["published_at"] is not None for r in rows)
    await relay.relay_once()
    assert len([e for e in got if e.chargepoint_id == cp]) == 5


async def test_one_relay_at_a_time(
    db_sessionmaker: async_sessionmaker[AsyncSession], bus: Bus, sql: Sql
) -> None:
    cp = new_cp()
    async with db_sessionmaker() as session, session.begin():
        await stage(session, [PublicEvent("security.event", {"type": "T"}, cp)])
    relay = OutboxRelay(db_sessionmaker, bus)
    async with db_sessionmaker() as other, other.begin():
        # Another replica's round holds the relay lock: this one relays nothing meanwhile.
        await other.execute(select(func.pg_advisory_xact_lock(RELAY_LOCK)))
        assert await relay.relay_once() == 0
    while await relay.relay_once():
        pass
    rows = await _events(sql, cp)
    assert [r["published_at"] is not None for r in rows] == [True]
