"""OCPP 1.6 end to end: library charge points -> gateway -> RabbitMQ -> services -> Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.ocpp16_client import connected, now
from tests.patience import PATIENCE, wait_for

pytestmark = [pytest.mark.e2e]


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r._mapping) for r in result]


async def eventually(
    engine: AsyncEngine, sql: str, expected: Any, timeout: float = PATIENCE, **params: Any
) -> Any:
    """Poll a scalar query until it equals `expected` (services write asynchronously); the
    deadline only detects a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value: Any = None
    while loop.time() < deadline:
        async with engine.connect() as conn:
            value = (await conn.execute(text(sql), params)).scalar()
        if value == expected:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sql!r} = {value!r}, expected {expected!r}")


async def add_tag(
    engine: AsyncEngine,
    token: str,
    *,
    revoked: bool = False,
    expiry: datetime | None = None,
    parent: str | None = None,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "insert into id_tag (id_token, revoked, expiry_date, parent_id_tag) "
                "values (:t, :r, :e, :p)"
            ),
            {"t": token, "r": revoked, "e": expiry, "p": parent},
        )


async def test_full_session_is_persisted(
    stack: Stack, db_engine: AsyncEngine, clean_db: None
) -> None:
    await add_tag(db_engine, "TAG-1")
    async with connected(stack.ws_url, "CP-E2E-1") as cp:
        boot = await cp.boot()
        assert boot.status == "Accepted"
        assert boot.interval > 0
        await cp.status(1)
        await cp.status(2)
        auth = await cp.authorize("TAG-1")
        assert auth.id_tag_info["status"] == "Accepted"
        start = await cp.start_tx("TAG-1", meter=1000)
        tx = start.transaction_id
        assert start.id_tag_info["status"] == "Accepted"
        for wh in (1100, 1250, 1400):
            await cp.meter(tx, wh)
        stop = await cp.stop_tx(tx, 1500)
        assert stop is not None

    [cp_row] = await rows(db_engine, "select * from chargepoint where chargepoint_id='CP-E2E-1'")
    assert cp_row["chargepoint_vendor"] == "E2E"
    assert cp_row["chargepoint_model"] == "Model-1"
    assert cp_row["ocpp_version"] == "ocpp1.6"
    connectors = await rows(
        db_engine,
        "select connectorid, connector_status from connector "
        "where chargepoint_id='CP-E2E-1' order by connectorid",
    )
    assert connectors == [
        {"connectorid": 1, "connector_status": "Available"},
        {"connectorid": 2, "connector_status": "Available"},
    ]
    [tx_row] = await rows(db_engine, "select * from transaction")
    assert tx_row["transaction_id"] == tx
    assert tx_row["id_tag"] == "TAG-1"
    assert tx_row["connectorid"] == 1
    assert (tx_row["wh_meter_start"], tx_row["wh_meter_stop"], tx_row["wh_meter_last"]) == (
        1000,
        1500,
        1500,
    )
    assert tx_row["status"] == "Completed"
    assert tx_row["stop_transaction_timestamp"] is not None
    await eventually(db_engine, "select count(*) from meter_value where transaction_id=:t", 3, t=tx)
    values = await rows(
        db_engine,
        "select value, measurand, unit from meter_value where transaction_id=:t "
        "order by timestamp, seq",
        t=tx,
    )
    assert [v["value"] for v in values] == ["1100", "1250", "1400"]
    assert {(v["measurand"], v["unit"]) for v in values} == {
        ("Energy.Active.Import.Register", "Wh")
    }
    await eventually(
        db_engine,
        "select count(*) from status_notification s join connector c on c.uuid = s.connector_uuid "
        "where c.chargepoint_id='CP-E2E-1'",
        2,
    )
    # every CALL and its answer is in the message log (boot, 2 status, authorize, start, 3 mv, stop)
    await eventually(
        db_engine,
        "select count(*) from ocpp_message where chargepoint_id='CP-E2E-1' and direction='in'",
        9,
    )
    await eventually(
        db_engine,
        "select count(*) from ocpp_message where chargepoint_id='CP-E2E-1' and direction='out'",
        9,
    )


async def test_authorize_outcomes(stack: Stack, db_engine: AsyncEngine, clean_db: None) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    await add_tag(db_engine, "PARENT")
    await add_tag(db_engine, "OK", parent="PARENT")
    await add_tag(db_engine, "OLD", expiry=past)
    await add_tag(db_engine, "REVOKED", revoked=True)
    await add_tag(db_engine, "BUSY")
    async with db_engine.begin() as conn:  # one open transaction at most (default: no limit)
        await conn.execute(
            text("update id_tag set max_active_transactions = 1 where id_token = 'BUSY'")
        )
    async with connected(stack.ws_url, "CP-E2E-AUTH") as cp:
        await cp.boot()
        ok = (await cp.authorize("OK")).id_tag_info
        assert ok["status"] == "Accepted"
        assert ok["parent_id_tag"] == "PARENT"
        assert (await cp.authorize("NOBODY")).id_tag_info["status"] == "Invalid"
        assert (await cp.authorize("OLD")).id_tag_info["status"] == "Expired"
        assert (await cp.authorize("REVOKED")).id_tag_info["status"] == "Blocked"
        await cp.start_tx("BUSY")
        assert (await cp.authorize("BUSY")).id_tag_info["status"] == "ConcurrentTx"


async def test_duplicate_start_and_unknown_stop(
    stack: Stack, db_engine: AsyncEngine, clean_db: None
) -> None:
    await add_tag(db_engine, "DUP")
    ts = now()
    async with connected(stack.ws_url, "CP-E2E-DUP") as cp:
        await cp.boot()
        first = await cp.start_tx("DUP", ts=ts)
        again = await cp.start_tx("DUP", ts=ts)
        assert again.transaction_id == first.transaction_id
        stop = await cp.stop_tx(987654, 10)  # a transaction nobody here knows
        assert stop is not None
    assert await rows(db_engine, "select count(*) as n from transaction") == [{"n": 1}]
    await eventually(
        db_engine,
        "select count(*) from ocpp_message where action='StopTransaction' and direction='out' "
        "and message_type=3",
        1,
    )


async def test_meter_values_survive_a_stopped_service(
    stack: Stack, db_engine: AsyncEngine, clean_db: None
) -> None:
    """With transactions down, MeterValues are still answered and land once it is back."""
    await add_tag(db_engine, "DURABLE")
    async with connected(stack.ws_url, "CP-E2E-DUR") as cp:
        await cp.boot()
        tx = (await cp.start_tx("DURABLE")).transaction_id
        await stack.stop("transactions")
        try:
            for wh in range(1, 21):
                # Answered once the broker confirmed it into the service's queue (no
                # consumer needed): the outcome is an answer, however long it takes here.
                await cp.meter(tx, wh * 10)
            assert await rows(db_engine, "select count(*) as n from meter_value") == [{"n": 0}]
        finally:
            await stack.start("transactions")
    await eventually(
        db_engine, "select count(*) from meter_value where transaction_id=:t", 20, t=tx
    )
    await eventually(
        db_engine, "select wh_meter_last from transaction where transaction_id=:t", 200, t=tx
    )


async def test_killed_service_loses_and_doubles_nothing(
    stack: Stack, db_engine: AsyncEngine, clean_db: None
) -> None:
    """SIGKILL the transactions service mid-stream: after restart every value is there once."""
    await add_tag(db_engine, "KILL")
    async with connected(stack.ws_url, "CP-E2E-KILL") as cp:
        await cp.boot()
        tx = (await cp.start_tx("KILL")).transaction_id

        answered = 0

        async def stream() -> None:
            nonlocal answered
            for wh in range(1, 301):
                await cp.meter(tx, wh)
                answered += 1

        sender = asyncio.create_task(stream())
        # Kill it mid-stream: once some values are through, however long that takes.
        await wait_for(lambda: answered >= 30 or sender.done())
        await stack.kill("transactions")
        await sender
        await stack.start("transactions")
    await eventually(
        db_engine, "select count(*) from meter_value where transaction_id=:t", 300, t=tx
    )
    dupes = await rows(
        db_engine, "select value, count(*) as n from meter_value group by value having count(*) > 1"
    )
    assert dupes == []


async def test_concurrent_sessions_get_their_own_transactions(
    stack: Stack, db_engine: AsyncEngine, clean_db: None
) -> None:
    """A few charge points at once (correctness under concurrency; the 200-charge-point storm
    is `make bench`'s boot storm phase, where a slow answer is a figure)."""
    n = 10
    async with db_engine.begin() as conn:
        await conn.execute(
            text("insert into id_tag (id_token, revoked) values (:t, false)"),
            [{"t": f"MANY-{i}"} for i in range(n)],
        )

    async def session(i: int) -> int:
        async with connected(stack.ws_url, f"CP-MANY-{i}") as cp:
            assert (await cp.boot()).status == "Accepted"
            await cp.status(1)
            await cp.status(2)
            assert (await cp.authorize(f"MANY-{i}")).id_tag_info["status"] == "Accepted"
            tx = (await cp.start_tx(f"MANY-{i}")).transaction_id
            for wh in (10, 20, 30):
                await cp.meter(tx, wh)
            await cp.stop_tx(tx, 40)
            return int(tx)

    txs = await asyncio.gather(*(session(i) for i in range(n)))
    assert len(set(txs)) == n
    await eventually(db_engine, "select count(*) from transaction where status='Completed'", n)
    await eventually(db_engine, "select count(*) from meter_value", 3 * n)
    await eventually(db_engine, "select count(*) from connector", 2 * n)
