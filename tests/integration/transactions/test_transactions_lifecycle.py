"""Transactions that never end must not lock their id tags (issue 10, item 5), OCPP 1.6.

The per-tag limit of open transactions, rejected starts, closes by the CSMS (Superseded,
Stale, Rebooted) with their events, corrections by a late stop, and StopTransaction never
answered ConcurrentTx; through the real Dispatcher on the test database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transactions.sweeper import close_stale
from shared.envelope import Envelope, event
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import CP, call
from .test_transactions_dispatch import T0, add_tag, iso, meter_payload, result, start

pytestmark = pytest.mark.integration

GRACE = 60.0


def stop_payload(tx: int, wh: int, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"transactionId": tx, "meterStop": wh, "timestamp": iso(at), **extra}


async def authorize(run: Run, tag: str) -> str:
    [reply] = await run([call("Authorize", {"idTag": tag})])
    status: str = result(reply)["idTagInfo"]["status"]
    return status


def status_event(connector: int, status: str, reported: datetime, applied: datetime) -> Envelope:
    """The registry's `connector.status_changed`, applied (created) at `applied`."""
    env = event(
        "connector.status_changed",
        {
            "connectorId": connector,
            "status": status,
            "errorCode": "NoError",
            "previousStatus": "Charging",
            "previousErrorCode": "NoError",
            "timestamp": iso(reported),
        },
        CP,
    )
    return env.model_copy(update={"created_at": applied})


def booted_event(applied: datetime) -> Envelope:
    env = event("chargepoint.booted", {"status": "Accepted", "created": False}, CP)
    return env.model_copy(update={"created_at": applied})


async def row_of(sql: Sql, tx: int) -> dict[str, Any]:
    [row] = await sql("select * from transaction where transaction_id = :t", t=tx)
    return row


# -- the per-tag limit -----------------------------------------------------------------------


async def test_concurrent_tx_only_at_the_tags_limit(chargepoint: str, sql: Sql, run: Run) -> None:
    """NULL = unlimited (the default): open transactions never make it ConcurrentTx; a limit
    of 2 allows two open transactions, the third start is refused."""
    await add_tag(sql, "FREE")
    await add_tag(sql, "TWO", limit=2)
    await start(run, "FREE", connector=1)
    assert await authorize(run, "FREE") == "Accepted"
    await start(run, "TWO", connector=2)
    assert await authorize(run, "TWO") == "Accepted"
    await sql("insert into connector (chargepoint_id, connectorid) values (:cp, 3)", cp=CP)
    [second] = await run([call("StartTransaction", {**start_payload("TWO", 3)})])
    assert result(second)["idTagInfo"] == {"status": "Accepted"}
    assert await authorize(run, "TWO") == "ConcurrentTx"
    assert await authorize(run, "two") == "ConcurrentTx"  # CiString: the same tag


def start_payload(tag: str, connector: int, at: datetime = T0, meter: int = 0) -> dict[str, Any]:
    return {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": iso(at)}


async def test_a_rejected_start_never_counts_as_open(chargepoint: str, sql: Sql, run: Run) -> None:
    """(a) A start answered ConcurrentTx that the charge point never stops does not lock the
    tag once the accepted one has ended."""
    await add_tag(sql, "TAG-1", limit=1)
    first = await start(run, "TAG-1", connector=1)
    [refused] = await run([call("StartTransaction", start_payload("TAG-1", 2))])
    assert result(refused)["idTagInfo"] == {"status": "ConcurrentTx"}
    await run([call("StopTransaction", stop_payload(first, 500, T0 + timedelta(minutes=5)))])
    assert await authorize(run, "TAG-1") == "Accepted"
    rows = await sql("select status, authorization_status from transaction order by 1")
    assert rows == [
        {"status": "Completed", "authorization_status": "Accepted"},
        {"status": "Rejected", "authorization_status": "ConcurrentTx"},
    ]


async def test_stop_transaction_is_never_answered_concurrent_tx(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    """Its idTagInfo describes the tag, not the tag's other transactions."""
    await add_tag(sql, "TAG-1", limit=1)
    await sql(
        'insert into "transaction" (chargepoint_id, connectorid, start_transaction_timestamp, '
        "wh_meter_start, wh_meter_last, id_tag, status, start_message_id) values "
        "(:cp, 1, :t, 0, 0, 'TAG-1', 'Active', 'a'), (:cp, 2, :t, 0, 0, 'TAG-1', 'Active', 'b')",
        cp=CP,
        t=T0,
    )
    [first] = await sql("select min(transaction_id) as t from transaction")
    [reply] = await run(
        [
            call(
                "StopTransaction",
                stop_payload(first["t"], 100, T0 + timedelta(minutes=1), idTag="TAG-1"),
            )
        ]
    )
    assert result(reply) == {"idTagInfo": {"status": "Accepted"}}


# -- (c) a new start on the connector ---------------------------------------------------------


async def test_a_new_start_supersedes_the_connectors_open_transaction(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    """The charge point lost power mid-transaction and starts again on the same connector
    with the same tag (limit 1): the old one is closed Superseded with the last reading, the
    new one is Accepted."""
    await add_tag(sql, "TAG-1", limit=1)
    old = await start(run, "TAG-1", connector=1, meter=1000)
    reading_at = T0 + timedelta(minutes=10)
    await run([call("MeterValues", meter_payload(old, 1500, reading_at))])
    [reply] = await run(
        [call("StartTransaction", start_payload("TAG-1", 1, T0 + timedelta(hours=1), 1600))]
    )
    answer = result(reply)
    assert answer["idTagInfo"] == {"status": "Accepted"}
    closed = await row_of(sql, old)
    assert (closed["status"], closed["reason_stopped"], closed["closed_by"]) == (
        "Completed",
        "Superseded",
        "csms",
    )
    assert closed["wh_meter_stop"] == 1500 and closed["stop_transaction_timestamp"] == reading_at
    assert (await row_of(sql, answer["transactionId"]))["status"] == "Active"
    [stopped] = publisher.named("transaction.stopped")
    assert stopped.payload == {
        "transaction_id": old,
        "connector_id": 1,
        "id_tag": None,
        "meter_stop": 1500,
        "energy_wh": 500,
        "reason": "Superseded",
        "timestamp": iso(reading_at),
        "outcome": "closed",
        "closed_by": "csms",
    }


async def test_a_late_stop_corrects_the_estimate_without_a_second_transaction(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    await add_tag(sql, "TAG-1", limit=1)
    old = await start(run, "TAG-1", connector=1, meter=1000)
    await run([call("MeterValues", meter_payload(old, 1500, T0 + timedelta(minutes=10)))])
    await run([call("StartTransaction", start_payload("TAG-1", 1, T0 + timedelta(hours=1)))])
    stopped_at = T0 + timedelta(minutes=20)
    late = call("StopTransaction", stop_payload(old, 1700, stopped_at, reason="PowerLoss"))
    [reply] = await run([late])
    assert result(reply) == {}
    row = await row_of(sql, old)
    assert (row["wh_meter_stop"], row["stop_transaction_timestamp"], row["reason_stopped"]) == (
        1700,
        stopped_at,
        "PowerLoss",
    )
    assert row["closed_by"] is None and row["corrected_at"] is not None
    assert (
        row["estimated_wh_meter_stop"],
        row["estimated_stop_timestamp"],
        row["estimated_reason_stopped"],
        row["estimated_closed_by"],
    ) == (1500, T0 + timedelta(minutes=10), "Superseded", "csms")
    assert await sql("select count(*) as n from transaction") == [{"n": 2}]
    corrected = publisher.named("transaction.stopped")[-1].payload
    assert (corrected["outcome"], corrected["closed_by"], corrected["energy_wh"]) == (
        "corrected",
        "chargepoint",
        700,
    )
    assert corrected["previous"] == {
        "meter_stop": 1500,
        "timestamp": iso(T0 + timedelta(minutes=10)),
        "reason": "Superseded",
        "closed_by": "csms",
    }
    # The same stop again (another frame): the correction stands, nothing changes.
    [again] = await run([call("StopTransaction", {**late.payload, "meterStop": 9999})])
    assert result(again) == {}
    assert (await row_of(sql, old))["wh_meter_stop"] == 1700
    assert publisher.named("transaction.stopped")[-1].payload["outcome"] == "repeated"


async def test_a_start_replayed_late_is_itself_the_superseded_one(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    """The one that started last stays open, whatever the order the starts arrive in."""
    await add_tag(sql, "TAG-1")
    newer = await start(run, "TAG-1", connector=1)
    [reply] = await run(
        [call("StartTransaction", start_payload("TAG-1", 1, T0 - timedelta(hours=2)))]
    )
    older = result(reply)["transactionId"]
    assert (await row_of(sql, newer))["status"] == "Active"
    row = await row_of(sql, older)
    assert (row["status"], row["reason_stopped"]) == ("Completed", "Superseded")


# -- (b) connector idle, charge point rebooted ------------------------------------------------


async def test_available_then_the_grace_period_closes_it_stale(
    chargepoint: str,
    sql: Sql,
    run: Run,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await add_tag(sql, "TAG-1", limit=1)
    tx = await start(run, "TAG-1", connector=1, meter=100)
    applied = datetime.now(UTC)
    await run([status_event(1, "Available", T0 + timedelta(minutes=30), applied)])
    assert (await row_of(sql, tx))["idle_since"] == applied
    # Within the grace period nothing is closed (its StopTransaction may still come).
    assert (
        await close_stale(db_sessionmaker, now=applied + timedelta(seconds=30), grace=GRACE) == []
    )
    events = await close_stale(db_sessionmaker, now=applied + timedelta(seconds=61), grace=GRACE)
    assert [e.payload["reason"] for e in events] == ["Stale"]
    assert events[0].payload["closed_by"] == "csms" and events[0].chargepoint_id == CP
    row = await row_of(sql, tx)
    assert (row["status"], row["reason_stopped"], row["wh_meter_stop"]) == (
        "Completed",
        "Stale",
        100,
    )
    assert await authorize(run, "TAG-1") == "Accepted"


async def test_a_running_status_or_a_stop_in_time_keeps_it(
    chargepoint: str,
    sql: Sql,
    run: Run,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await add_tag(sql, "TAG-1")
    running = await start(run, "TAG-1", connector=1)
    stopped = await start(run, "TAG-1", connector=2)
    applied = datetime.now(UTC)
    later = applied + timedelta(seconds=5)
    await run([status_event(1, "Available", T0 + timedelta(minutes=1), applied)])
    await run([status_event(1, "Charging", T0 + timedelta(minutes=2), later)])
    await run([status_event(2, "Available", T0 + timedelta(minutes=1), applied)])
    await run([call("StopTransaction", stop_payload(stopped, 50, T0 + timedelta(minutes=1)))])
    # A status reported before the transaction started says nothing about it.
    await run([status_event(1, "Available", T0 - timedelta(minutes=5), later)])
    assert await close_stale(db_sessionmaker, now=later + timedelta(hours=1), grace=GRACE) == []
    assert (await row_of(sql, running))["status"] == "Active"
    assert (await row_of(sql, stopped))["reason_stopped"] == "Local"


async def test_a_reboot_then_available_closes_it_rebooted_and_a_late_stop_corrects_it(
    chargepoint: str,
    sql: Sql,
    run: Run,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    publisher: RecordingPublisher,
) -> None:
    await add_tag(sql, "TAG-1", limit=1)
    await add_tag(sql, "TAG-2")
    on_1 = await start(run, "TAG-1", connector=1, meter=10)
    on_2 = await start(run, "TAG-2", connector=2, meter=20)
    # Connector 2 is shown Available already (the charger never reported it charging): the
    # Available it reports after the boot changes nothing, so no event comes for it.
    await sql(
        "update connector set connector_status = 'Available' where connectorid = 2 "
        "and chargepoint_id = :cp",
        cp=CP,
    )
    booted_at = datetime.now(UTC) + timedelta(seconds=1)
    await run([booted_event(booted_at)])
    assert (await row_of(sql, on_2))["idle_since"] == booted_at
    await run([status_event(1, "Available", T0 + timedelta(hours=1), booted_at)])
    events = await close_stale(db_sessionmaker, now=booted_at + timedelta(minutes=2), grace=GRACE)
    assert sorted((e.payload["transaction_id"], e.payload["reason"]) for e in events) == [
        (on_1, "Rebooted"),
        (on_2, "Rebooted"),
    ]
    assert (await row_of(sql, on_1))["rebooted_at"] == booted_at
    # The charger resends the Stop from its queue after all (1.6 §5.14): a correction.
    [reply] = await run(
        [
            call(
                "StopTransaction",
                stop_payload(on_1, 90, T0 + timedelta(minutes=40), reason="PowerLoss"),
            )
        ]
    )
    assert result(reply) == {}
    row = await row_of(sql, on_1)
    assert (row["reason_stopped"], row["estimated_reason_stopped"], row["wh_meter_stop"]) == (
        "PowerLoss",
        "Rebooted",
        Decimal(90),
    )
    assert publisher.named("transaction.stopped")[-1].payload["outcome"] == "corrected"


async def test_a_boot_closes_nothing_by_itself(
    chargepoint: str,
    sql: Sql,
    run: Run,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """After a reboot the charger reports the session running (or sends its Stop): kept."""
    await add_tag(sql, "TAG-1")
    tx = await start(run, "TAG-1", connector=1)
    booted_at = datetime.now(UTC) + timedelta(seconds=1)
    await run([booted_event(booted_at)])
    await run([status_event(1, "Charging", T0 + timedelta(hours=1), booted_at)])
    assert await close_stale(db_sessionmaker, now=booted_at + timedelta(hours=1), grace=GRACE) == []
    assert (await row_of(sql, tx))["status"] == "Active"
