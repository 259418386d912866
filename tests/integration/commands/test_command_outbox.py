"""The command log as the outbox of command effects (docs/commands.md, "Effects"): effects in
commit order per charge point, each once, whatever the events do; abandoned pending rows
resolved; the sweeper's nudges; the services' own effect queues on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

import aio_pika
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.commands.service import create_log, log_values
from services.registry import command_effects as registry_effects
from services.registry.main import setup as registry_setup
from services.registry.routes import ROUTER as REGISTRY_ROUTER
from shared.bus import Bus
from shared.bus.topology import EVENTS, REGISTRY_QUEUE
from shared.command_outbox import CommandSweeper, complete, effects_due
from shared.commands import COMMAND_COMPLETED, COMMAND_EFFECTS_DUE, Result
from shared.dispatch import Dispatcher, Router
from shared.envelope import Envelope
from shared.health import HealthServer
from shared.service import ServiceContext
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher, Sql
from tests.patience import PATIENCE

from .conftest import add_chargepoint
from .test_command_effects import Commands

pytestmark = pytest.mark.integration

ACCEPTED = Result({"status": "Accepted"})


class Published:
    """A confirmed publisher that records (exchange, key, envelope)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Envelope]] = []

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        self.sent.append((exchange, routing_key, envelope))

    def keys_for(self, cp: str) -> list[str]:
        return [key for _, key, env in self.sent if env.chargepoint_id == cp]


@pytest.fixture
def command(db_sessionmaker: async_sessionmaker[AsyncSession]) -> Commands:
    return Commands(db_sessionmaker)


def registry_dispatcher(sessionmaker: async_sessionmaker[AsyncSession]) -> Dispatcher:
    """A registry replica's effect consumer (its routes, its batch locks)."""
    return Dispatcher(
        router=Router(registry_effects.ROUTES, before_batch=REGISTRY_ROUTER.before_batch),
        sessionmaker=sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )


async def deliver(dispatcher: Dispatcher, event: Envelope) -> None:
    assert await dispatcher([FakeDelivery(event, event.action)]) == [None]


async def heartbeat_interval(sql: Sql, cp: str) -> str | None:
    rows = await sql(
        "SELECT value FROM chargepoint_configuration"
        " WHERE chargepoint_id = :cp AND key = 'HeartbeatInterval'",
        cp=cp,
    )
    return rows[0]["value"] if rows else None


def change(value: str) -> dict[str, Any]:
    return {"key": "HeartbeatInterval", "value": value}


async def test_effects_apply_in_commit_order_whatever_the_event_order(
    db_sessionmaker: async_sessionmaker[AsyncSession], command: Commands, sql: Sql, cp: str
) -> None:
    """Two ChangeConfiguration of one key, committed 10 then 20; their events arrive 20
    then 10 (two publishers, two consumers). The key ends at 20: events only nudge, the
    effects come from the log in seq order, each once."""
    await add_chargepoint(sql, cp)
    first = await command(cp, "ChangeConfiguration", change("10"), ACCEPTED)
    second = await command(cp, "ChangeConfiguration", change("20"), ACCEPTED)
    assert (first.payload["seq"], second.payload["seq"]) == (1, 2)
    consumer = registry_dispatcher(db_sessionmaker)
    await deliver(consumer, second)
    assert await heartbeat_interval(sql, cp) == "20"
    await deliver(consumer, first)  # late: applies nothing again
    assert await heartbeat_interval(sql, cp) == "20"
    [cursor] = await sql(
        "SELECT applied_seq FROM command_effect_cursor"
        " WHERE consumer = 'registry' AND chargepoint_id = :cp",
        cp=cp,
    )
    assert cursor["applied_seq"] == 2


async def test_concurrent_consumers_apply_each_effect_once_in_order(
    db_sessionmaker: async_sessionmaker[AsyncSession], command: Commands, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    events = [await command(cp, "ChangeConfiguration", change(str(v)), ACCEPTED) for v in (1, 2, 3)]
    replicas = [registry_dispatcher(db_sessionmaker) for _ in range(3)]
    await asyncio.gather(*(deliver(r, e) for r, e in zip(replicas, reversed(events), strict=True)))
    assert await heartbeat_interval(sql, cp) == "3"


async def test_a_lost_event_is_applied_with_the_next_one(
    db_sessionmaker: async_sessionmaker[AsyncSession], command: Commands, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp, (1,))
    await command(
        cp, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, ACCEPTED
    )  # its event never arrives
    later = await command(cp, "ChangeConfiguration", change("45"), ACCEPTED)
    await deliver(registry_dispatcher(db_sessionmaker), later)
    [row] = await sql("SELECT availability_status FROM connector WHERE chargepoint_id = :cp", cp=cp)
    assert row["availability_status"] == "Inoperative"
    assert await heartbeat_interval(sql, cp) == "45"


async def test_sweeper_nudges_what_a_consumer_has_not_applied(
    db_sessionmaker: async_sessionmaker[AsyncSession], command: Commands, sql: Sql, cp: str
) -> None:
    """The event of the last command was lost (a failed publish): no later command comes.
    The sweeper sees the registry's cursor behind the charge point's last seq and publishes
    `command.effects_due`; handling it applies the effect."""
    await add_chargepoint(sql, cp)
    await command(cp, "ChangeConfiguration", change("77"), ACCEPTED)
    published = Published()
    sweeper = CommandSweeper(db_sessionmaker, published, nudge_grace=timedelta(0))
    await sweeper.nudge_lagging()
    assert published.keys_for(cp) == [COMMAND_EFFECTS_DUE]
    [(exchange, _, nudge)] = [s for s in published.sent if s[2].chargepoint_id == cp]
    assert exchange == EVENTS and nudge.payload == effects_due(cp).payload == {"chargepoint_id": cp}
    await deliver(registry_dispatcher(db_sessionmaker), nudge)
    assert await heartbeat_interval(sql, cp) == "77"
    # Within nudge_every it does not nudge the same charge point again.
    await sweeper.nudge_lagging()
    assert published.keys_for(cp) == [COMMAND_EFFECTS_DUE]


async def test_caught_up_charge_points_are_not_nudged(
    db_sessionmaker: async_sessionmaker[AsyncSession], command: Commands, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    event = await command(cp, "ChangeConfiguration", change("5"), ACCEPTED)
    await deliver(registry_dispatcher(db_sessionmaker), event)
    published = Published()
    sweeper = CommandSweeper(
        db_sessionmaker, published, nudge_grace=timedelta(0), consumers=("registry",)
    )
    await sweeper.nudge_lagging()
    assert published.keys_for(cp) == []


async def test_abandoned_pending_command_becomes_lost(
    db_sessionmaker: async_sessionmaker[AsyncSession], command: Commands, sql: Sql, cp: str
) -> None:
    """The API process died while waiting: its row would stay pending for ever. Past its
    expires_at (+ margin) the sweeper marks it `lost`, with a seq and an event. A row still
    within its wait is left alone. An answer that comes after all replaces `lost`."""
    async with db_sessionmaker() as session:
        abandoned = await create_log(
            session=session,
            chargepoint_id=cp,
            action="Reset",
            request={"type": "Soft"},
            requested_by="test",
            timeout=30,
        )
        waiting = await create_log(
            session=session,
            chargepoint_id=cp,
            action="Reset",
            request={"type": "Hard"},
            requested_by="test",
            timeout=30,
        )
    await sql(
        "UPDATE command_log SET expires_at = now() - interval '1 minute' WHERE id = :id",
        id=abandoned,
    )
    published = Published()
    sweeper = CommandSweeper(db_sessionmaker, published, abandon_margin=timedelta(seconds=30))
    assert await sweeper.resolve_abandoned() >= 1
    rows = {
        r["id"]: r
        for r in await sql(
            "SELECT id, outcome, seq, error_code, completed_at FROM command_log"
            " WHERE chargepoint_id = :cp",
            cp=cp,
        )
    }
    assert (rows[abandoned]["outcome"], rows[abandoned]["seq"]) == ("lost", 1)
    assert rows[abandoned]["error_code"] == "Lost" and rows[abandoned]["completed_at"]
    assert (rows[waiting]["outcome"], rows[waiting]["seq"]) == ("pending", None)
    [(exchange, key, event)] = [s for s in published.sent if s[2].chargepoint_id == cp]
    assert (exchange, key) == (EVENTS, COMMAND_COMPLETED)
    assert event.payload["outcome"] == "lost" and event.payload["error"]["code"] == "Lost"
    # The API's answer arrives after all: it replaces `lost`, with a new seq.
    async with db_sessionmaker() as session:
        late = await complete(session, abandoned, log_values(ACCEPTED))
        await session.commit()
    assert late is not None and late.payload["outcome"] == "result"
    assert late.payload["seq"] == 2


async def _delete_queues(amqp_url: str) -> None:
    conn = await aio_pika.connect(amqp_url)
    try:
        for suffix in ("", ".rpc", ".command-effects"):
            channel = await conn.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(REGISTRY_QUEUE + suffix)
    finally:
        await conn.close()


async def test_registry_applies_effects_from_its_own_queue(
    amqp_url: str,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    bus: Bus,
    command: Commands,
    sql: Sql,
    cp: str,
) -> None:
    """The registry as it runs: `command.completed` on the real broker reaches
    `csms.registry.command-effects`, and the effect is applied from the log."""
    await _delete_queues(amqp_url)
    await add_chargepoint(sql, cp, (1,))
    service_bus = Bus(amqp_url, name=f"test-registry-{uuid.uuid4().hex[:6]}")
    await service_bus.connect()
    ctx = ServiceContext(
        name="registry",
        settings=Settings(amqp_url=amqp_url),
        engine=db_engine,
        sessionmaker=db_sessionmaker,
        bus=service_bus,
        logger=logging.getLogger("test.registry"),
        health=HealthServer(0),
        stopping=asyncio.Event(),
    )
    try:
        await registry_setup(ctx)
        event = await command(
            cp, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}, ACCEPTED
        )
        await bus.publish(EVENTS, COMMAND_COMPLETED, event)
        deadline = time.monotonic() + PATIENCE
        status = None
        while status != "Inoperative" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            [row] = await sql(
                "SELECT availability_status FROM connector WHERE chargepoint_id = :cp", cp=cp
            )
            status = row["availability_status"]
        assert status == "Inoperative"
    finally:
        await ctx.shutdown()
        await service_bus.close(timeout=5)
        await _delete_queues(amqp_url)
