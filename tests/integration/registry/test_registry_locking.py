"""Registry batches take their row locks in one global order: two batches touching the same
charge points / connectors in opposite orders never deadlock (issue 10, item 10).

Each batch is held after its first handler until the other batch has run its first handler
too (or could not, because it waits on a lock): without the up-front locks, batch X holds
A and wants B while batch Y holds B and wants A, and Postgres aborts one with a deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.locking import advisory_key, chargepoint_ids
from services.registry.routes import ROUTER
from shared.bus.consumer import Outcome
from shared.bus.topology import GATEWAY_CONNECTED
from shared.dispatch import Answer, Dispatcher, HandlerContext, Route, Router
from shared.envelope import Envelope
from shared.settings import Settings
from tests.factories import RecordingPublisher, Sql, delivery

from .helpers import call, closing, connection_event, new_cp

pytestmark = pytest.mark.integration

HOLD = 3.0
"""Seconds a batch waits for the other to reach the same point (a wait, not an assertion:
with the up-front locks the other batch cannot get there until this one commits)."""


class Rendezvous:
    """Holds each batch after its first handler until the other got there too (bounded)."""

    def __init__(self) -> None:
        self.reached = {name: asyncio.Event() for name in ("X", "Y")}

    def router(self, name: str) -> Router:
        other = "Y" if name == "X" else "X"
        handled = 0

        def wrap(route: Route[Any]) -> Route[Any]:
            async def handler(ctx: HandlerContext, env: Envelope, req: Any) -> Answer:
                nonlocal handled
                result = await route.handler(ctx, env, req)
                handled += 1
                if handled == 1:
                    self.reached[name].set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.reached[other].wait(), HOLD)
                return result

            return dataclasses.replace(route, handler=handler)

        return Router([wrap(r) for r in ROUTER.routes.values()], before_batch=ROUTER.before_batch)


async def run_crossed(
    sessionmaker: async_sessionmaker[AsyncSession],
    first: Sequence[Envelope],
    second: Sequence[Envelope],
) -> list[list[Outcome] | BaseException]:
    """Run the two batches concurrently, each through the registry's route table."""
    meeting = Rendezvous()
    dispatchers = [
        Dispatcher(
            router=meeting.router(name),
            sessionmaker=sessionmaker,
            settings=Settings(),
            publisher=RecordingPublisher(),
        )
        for name in ("X", "Y")
    ]
    return list(
        await asyncio.gather(
            dispatchers[0]([delivery(e) for e in first]),
            dispatchers[1]([delivery(e) for e in second]),
            return_exceptions=True,
        )
    )


def status(connector: int, state: str, minute: int) -> dict[str, object]:
    return {
        "connectorId": connector,
        "status": state,
        "errorCode": "NoError",
        "timestamp": f"2025-03-01T12:{minute:02d}:00Z",
    }


async def test_mass_disconnect_in_opposite_orders_does_not_deadlock(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    a, b = sorted([new_cp(), new_cp()])
    setup = Dispatcher(
        router=ROUTER,
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )
    opened = {
        cp: connection_event(cp, GATEWAY_CONNECTED, node="n1", ip="10.0.0.1", port=port)
        for port, cp in enumerate((a, b), start=4000)
    }
    await setup([delivery(e) for e in opened.values()])
    closed = {cp: closing(e) for cp, e in opened.items()}
    results = await run_crossed(db_sessionmaker, [closed[a], closed[b]], [closed[b], closed[a]])
    assert [r for r in results if isinstance(r, BaseException)] == []
    rows = await sql("select connected from chargepoint where chargepoint_id in (:a, :b)", a=a, b=b)
    assert [r["connected"] for r in rows] == [False, False]


async def test_status_reports_in_opposite_orders_do_not_deadlock(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    """Two consumers with the same charge points' connectors in opposite orders (a status
    storm after a reconnect): connector rows of two charge points, crossed."""
    a, b = sorted([new_cp(), new_cp()])
    for cp in (a, b):
        await sql(
            "insert into chargepoint (chargepoint_id, registration_status)"
            " values (:cp, 'Accepted')",
            cp=cp,
        )
        await sql(
            "insert into connector (chargepoint_id, connectorid) values (:cp, 1), (:cp, 2)",
            cp=cp,
        )
    x = [
        call(a, "StatusNotification", status(1, "Charging", 1)),
        call(b, "StatusNotification", status(2, "Charging", 1)),
    ]
    y = [
        call(b, "StatusNotification", status(2, "Finishing", 2)),
        call(a, "StatusNotification", status(1, "Finishing", 2)),
    ]
    results = await run_crossed(db_sessionmaker, x, y)
    assert [r for r in results if isinstance(r, BaseException)] == []
    rows = await sql(
        "select chargepoint_id, connectorid, connector_status from connector"
        " where (chargepoint_id = :a and connectorid = 1)"
        " or (chargepoint_id = :b and connectorid = 2)"
        " order by chargepoint_id, connectorid",
        a=a,
        b=b,
    )
    # The newer report wins whichever batch committed first.
    assert [(r["chargepoint_id"], r["connectorid"], r["connector_status"]) for r in rows] == [
        (a, 1, "Finishing"),
        (b, 2, "Finishing"),
    ]


def test_lock_set_skips_what_writes_no_rows() -> None:
    a, b = "CP-B", "CP-A"
    batch = [
        delivery(call(a, "StatusNotification", status(1, "Available", 0))),
        delivery(call(b, "Heartbeat", {})),
        delivery(call("CP-LOG", "gateway.frame_log", {})),
        delivery(call("CP-DT", "DataTransfer", {"vendorId": "x"})),
    ]
    assert chargepoint_ids(batch) == (["CP-A", "CP-B"], ["CP-B"])
    assert -(1 << 31) <= advisory_key("CP-A") < (1 << 31)
