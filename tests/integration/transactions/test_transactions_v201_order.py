"""OCPP 2.0.1 transactions (issue 10, item 6): retried events, seqNo gaps, any order, exact
Wh, MeterValues linked to the running transaction, closes and corrections as in 1.6."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.factories import RecordingPublisher, Run, Sql

from .helpers import CP
from .test_transactions_v201 import T0, call, energy, iso, result, tx_event, tx_rows

pytestmark = pytest.mark.integration


async def energy_values(sql: Sql) -> list[Any]:
    rows = await sql(
        "select value_numeric from meter_value where chargepoint_id = :cp "
        "and measurand like 'Energy%' order by timestamp, seq",
        cp=CP,
    )
    return [r["value_numeric"] for r in rows]


async def test_a_retried_updated_stores_its_meter_values_once(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    """The station lost the answer and sends the same event again in a new frame (new unique
    id, so a new correlation id): its seqNo says it is the same event."""
    await run([call("TransactionEvent", tx_event("Started", "tx-r", T0, seq=0))])
    at = T0 + timedelta(minutes=1)
    updated = tx_event("Updated", "tx-r", at, seq=1, meter=[energy(1500, at)])
    for _ in range(3):
        [reply] = await run([call("TransactionEvent", updated)])
        assert result(reply) == {}
    assert await energy_values(sql) == [Decimal(1500)]
    [row] = await tx_rows(sql)
    assert (row["seq_no_max"], row["missing_seq_nos"]) == (1, [])


async def test_seq_no_gaps_are_recorded_and_filled_by_late_events(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await run([call("TransactionEvent", tx_event("Started", "tx-g", T0, seq=0))])
    at = T0 + timedelta(minutes=4)
    await run([call("TransactionEvent", tx_event("Updated", "tx-g", at, seq=4))])
    [row] = await tx_rows(sql)
    assert (row["seq_no_max"], row["missing_seq_nos"]) == (4, [1, 2, 3])
    at2 = T0 + timedelta(minutes=2)
    await run([call("TransactionEvent", tx_event("Updated", "tx-g", at2, seq=2, offline=True))])
    [row] = await tx_rows(sql)
    assert row["missing_seq_nos"] == [1, 3]


def offline(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "offline": True}


async def test_offline_events_in_any_order_leave_a_correct_transaction(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    """Ended first, then an Updated (must not reopen it), then the Started (the start)."""
    await sql("insert into id_tag (id_token) values ('TAG-1')")
    end = T0 + timedelta(minutes=30)
    mid = T0 + timedelta(minutes=10)
    ended = tx_event(
        "Ended",
        "tx-o",
        end,
        seq=2,
        meter=[energy(3000.25, end, "Transaction.End")],
        stoppedReason="EVDisconnected",
    )
    updated = tx_event("Updated", "tx-o", mid, seq=1, meter=[energy(2000, mid)])
    started = tx_event(
        "Started", "tx-o", T0, seq=0, token="TAG-1", meter=[energy(1000.5, T0, "Transaction.Begin")]
    )
    for payload in (ended, updated, started):
        [reply] = await run([call("TransactionEvent", offline(payload))])
        result(reply)
    [row] = await tx_rows(sql)
    assert row["status"] == "Completed"
    assert row["start_transaction_timestamp"] == T0
    assert row["stop_transaction_timestamp"] == end
    assert (row["wh_meter_start"], row["wh_meter_stop"], row["wh_meter_last"]) == (
        Decimal("1000.5"),
        Decimal("3000.25"),
        Decimal("3000.25"),
    )
    assert row["reason_stopped"] == "EVDisconnected"
    assert row["id_tag"] == "TAG-1"
    assert (row["seq_no_max"], row["missing_seq_nos"]) == (2, [])
    assert await energy_values(sql) == [Decimal("1000.5"), Decimal(2000), Decimal("3000.25")]


async def test_energy_with_decimals_is_kept_exact(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    await run(
        [call("TransactionEvent", tx_event("Started", "tx-d", T0, meter=[energy(47.06, T0)]))]
    )
    at = T0 + timedelta(minutes=1)
    await run(
        [
            call(
                "TransactionEvent",
                tx_event("Ended", "tx-d", at, seq=1, meter=[energy(1047.57, at)]),
            )
        ]
    )
    [row] = await tx_rows(sql)
    assert (row["wh_meter_start"], row["wh_meter_stop"]) == (
        Decimal("47.06"),
        Decimal("1047.57"),
    )
    stopped = publisher.named("transaction.stopped")[-1].payload
    assert (stopped["meter_stop"], stopped["energy_wh"]) == (1047.57, 1000.51)


async def test_meter_values_are_linked_to_the_evses_open_transaction(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await run([call("TransactionEvent", tx_event("Started", "tx-m", T0, evse=1))])
    at = T0 + timedelta(minutes=3)
    payload = {"evseId": 1, "meterValue": [energy(2500.5, at)]}
    other = {"evseId": 2, "meterValue": [energy(99, at)]}
    await run([call("MeterValues", payload), call("MeterValues", other)])
    [row] = await tx_rows(sql)
    linked = await sql(
        "select connectorid, transaction_id from meter_value where measurand like 'Energy%' "
        "order by connectorid"
    )
    assert linked == [
        {"connectorid": 1, "transaction_id": row["transaction_id"]},
        {"connectorid": 2, "transaction_id": None},
    ]
    assert (row["wh_meter_last"], row["wh_meter_last_at"]) == (Decimal("2500.5"), at)


async def test_a_new_transaction_on_the_evse_supersedes_and_a_late_ended_corrects(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    await sql("insert into id_tag (id_token, max_active_transactions) values ('TAG-1', 1)")
    first = tx_event("Started", "tx-1", T0, token="TAG-1", meter=[energy(100, T0)])
    await run([call("TransactionEvent", first)])
    later = T0 + timedelta(hours=1)
    [reply] = await run(
        [call("TransactionEvent", tx_event("Started", "tx-2", later, token="TAG-1"))]
    )
    assert result(reply) == {"idTokenInfo": {"status": "Accepted"}}
    old, new = await tx_rows(sql)
    assert (old["status"], old["reason_stopped"], old["closed_by"]) == (
        "Completed",
        "Superseded",
        "csms",
    )
    assert new["status"] == "Active"
    end = T0 + timedelta(minutes=40)
    ended = tx_event(
        "Ended", "tx-1", end, seq=5, meter=[energy(640.5, end)], stoppedReason="PowerLoss"
    )
    await run([call("TransactionEvent", offline(ended))])
    old, _ = await tx_rows(sql)
    assert (old["wh_meter_stop"], old["reason_stopped"], old["estimated_reason_stopped"]) == (
        Decimal("640.5"),
        "PowerLoss",
        "Superseded",
    )
    assert old["corrected_at"] is not None and old["stop_transaction_timestamp"] == end
    assert publisher.named("transaction.stopped")[-1].payload["outcome"] == "corrected"


async def test_first_token_over_the_limit_is_rejected(chargepoint: str, sql: Sql, run: Run) -> None:
    await sql("insert into id_tag (id_token, max_active_transactions) values ('TAG-1', 1)")
    await run([call("TransactionEvent", tx_event("Started", "tx-a", T0, evse=1, token="TAG-1"))])
    [reply] = await run(
        [call("TransactionEvent", tx_event("Started", "tx-b", T0, evse=2, token="TAG-1"))]
    )
    assert result(reply) == {"idTokenInfo": {"status": "ConcurrentTx"}}
    # The station retries the event: the same answer, nothing decided again.
    [again] = await run(
        [call("TransactionEvent", tx_event("Started", "tx-b", T0, evse=2, token="TAG-1"))]
    )
    assert result(again) == {"idTokenInfo": {"status": "ConcurrentTx"}}
    rows = await tx_rows(sql)
    assert [(r["status"], r["authorization_status"]) for r in rows] == [
        ("Active", "Accepted"),
        ("Rejected", "ConcurrentTx"),
    ]
    assert iso(rows[1]["start_transaction_timestamp"]) == iso(T0)
