"""Row locks of concurrent batches are taken in one global order: Postgres reports no deadlock.

A MeterValues batch (its aggregated wh_meter_last UPDATE) and a batch of StopTransactions on
the RPC queue touch the same transaction rows. Each batch is one database transaction, so the
locks of its first handlers are held while the later ones run: unless every batch takes its
locks in the same order (transaction id ascending, before any handler runs), the two wait on
each other and Postgres aborts one with a deadlock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import Run, Sql

from .helpers import call
from .test_transactions_dispatch import T0, add_tag, iso, meter_payload, start

pytestmark = pytest.mark.integration

BLOCKER = "CP-TX-BLOCKER"


async def waiting_backends(engine: AsyncEngine) -> int:
    """How many sessions of this database wait on a lock right now."""
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "select count(*) from pg_stat_activity "
                        "where datname = current_database() and wait_event_type = 'Lock'"
                    )
                )
            ).scalar_one()
        )


async def until_waiting(engine: AsyncEngine, count: int) -> None:
    """Return once `count` sessions wait on a lock (polls; the batches run concurrently)."""
    for _ in range(600):
        if await waiting_backends(engine) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never saw {count} sessions waiting on a lock")


def stop(tx: int, wh: int) -> Any:
    return call(
        "StopTransaction",
        {"transactionId": tx, "meterStop": wh, "timestamp": iso(T0 + timedelta(hours=1))},
    )


async def test_meter_values_batch_and_stop_batch_do_not_deadlock(
    chargepoint: str, sql: Sql, run: Run, db_engine: AsyncEngine
) -> None:
    """Stop batch: Stop(tx2), a StartTransaction that has to wait (another session is
    inserting its charge point), Stop(tx1). Meanwhile a MeterValues batch for tx1 and tx2
    commits. Without one lock order the stop batch holds tx2 and then wants tx1, which the
    MeterValues batch holds while it wants tx2: a deadlock, and Postgres aborts one batch."""
    await add_tag(sql, "TAG-1")
    await add_tag(sql, "TAG-2")
    tx1 = await start(run, "TAG-1", connector=1)
    tx2 = await start(run, "TAG-2", connector=2)
    assert tx1 < tx2

    async with db_engine.connect() as blocker:
        # An uncommitted insert of the blocker charge point: the stop batch's StartTransaction
        # (which inserts the minimal charge point row first) waits on it.
        await blocker.execute(
            text(
                "insert into chargepoint (chargepoint_id, registration_status) "
                "values (:cp, 'Accepted')"
            ),
            {"cp": BLOCKER},
        )
        stops = asyncio.ensure_future(
            run(
                [
                    stop(tx2, 2000),
                    call(
                        "StartTransaction",
                        {
                            "connectorId": 1,
                            "idTag": "TAG-3",
                            "meterStart": 0,
                            "timestamp": iso(T0),
                        },
                        chargepoint_id=BLOCKER,
                    ),
                    stop(tx1, 1000),
                ]
            )
        )
        await until_waiting(db_engine, 1)
        meters = asyncio.ensure_future(
            run(
                [
                    call("MeterValues", meter_payload(tx1, 500, T0 + timedelta(minutes=1))),
                    call(
                        "MeterValues",
                        {**meter_payload(tx2, 600, T0 + timedelta(minutes=1)), "connectorId": 2},
                    ),
                ]
            )
        )
        await until_waiting(db_engine, 2)
        await blocker.rollback()
        results = await asyncio.gather(stops, meters, return_exceptions=True)

    assert [r for r in results if isinstance(r, BaseException)] == []
    rows = await sql(
        "select transaction_id, status, wh_meter_stop from transaction "
        "where chargepoint_id = :cp order by 1",
        cp=chargepoint,
    )
    assert rows == [
        {"transaction_id": tx1, "status": "Completed", "wh_meter_stop": 1000},
        {"transaction_id": tx2, "status": "Completed", "wh_meter_stop": 2000},
    ]
