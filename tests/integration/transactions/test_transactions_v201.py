"""OCPP 2.0.1 Authorize / TransactionEvent / MeterValues through the Dispatcher, real DB."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.bus.consumer import Outcome
from shared.envelope import Envelope, Kind
from shared.ocpp import format_datetime
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import CP

pytestmark = pytest.mark.integration

V201 = "ocpp2.0.1"
T0 = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return format_datetime(dt)  # the one OCPP date-time form (milliseconds, Z)


def call(action: str, payload: dict[str, Any], *, correlation_id: str | None = None) -> Envelope:
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=CP,
        ocpp_version=V201,
        unique_id=uuid.uuid4().hex[:20],
        correlation_id=correlation_id or uuid.uuid4().hex,
        node_id="test-node",
    )


def result(reply: Outcome) -> dict[str, Any]:
    assert isinstance(reply, Envelope), reply
    assert reply.kind is Kind.RESULT, (reply.error_code, reply.error_description)
    return reply.payload


def energy(
    wh: float, at: datetime, context: str = "Sample.Periodic", multiplier: int = 0
) -> dict[str, Any]:
    sampled: dict[str, Any] = {"value": wh, "context": context}
    if multiplier:
        sampled["unitOfMeasure"] = {"unit": "Wh", "multiplier": multiplier}
    return {
        "timestamp": iso(at),
        "sampledValue": [
            sampled,
            {"value": 16, "measurand": "Current.Import", "unitOfMeasure": {"unit": "A"}},
        ],
    }


def tx_event(
    event_type: str,
    tx: str,
    at: datetime,
    *,
    seq: int = 0,
    token: str | None = None,
    evse: int | None = 1,
    meter: list[dict[str, Any]] | None = None,
    **info: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": iso(at),
        "triggerReason": "Authorized" if event_type == "Started" else "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx, **info},
    }
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    if evse is not None:
        payload["evse"] = {"id": evse, "connectorId": 1}
    if meter is not None:
        payload["meterValue"] = meter
    return payload


async def tx_rows(sql: Sql) -> list[dict[str, Any]]:
    return await sql(
        "select * from transaction where chargepoint_id = :cp order by transaction_id", cp=CP
    )


async def test_authorize_maps_idtaginfo_to_idtokeninfo(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    expiry = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    await sql("insert into id_tag (id_token) values ('GROUP')")
    await sql(
        "insert into id_tag (id_token, parent_id_tag, expiry_date) values ('T1', 'GROUP', :e)",
        e=expiry,
    )
    await sql("insert into id_tag (id_token, revoked) values ('BAD', true)")
    tokens = ["T1", "BAD", "NOBODY"]
    replies = await run(
        [call("Authorize", {"idToken": {"idToken": t, "type": "ISO14443"}}) for t in tokens]
    )
    infos = [result(r)["idTokenInfo"] for r in replies]
    assert infos == [
        {
            "status": "Accepted",
            "cacheExpiryDateTime": iso(expiry),
            "groupIdToken": {"idToken": "GROUP", "type": "Central"},
        },
        {"status": "Blocked"},
        {"status": "Invalid"},
    ]
    log = await sql(
        "select direction, action from ocpp_message where chargepoint_id = :cp "
        "and action = 'Authorize'",
        cp=CP,
    )
    assert len(log) == 6


async def test_full_transaction(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    await sql("insert into id_tag (id_token) values ('TAG-1')")
    started = call(
        "TransactionEvent",
        tx_event(
            "Started",
            "tx-a",
            T0,
            token="TAG-1",
            meter=[energy(1000, T0, "Transaction.Begin")],
            chargingState="Charging",
        ),
    )
    [reply] = await run([started])
    assert result(reply) == {"idTokenInfo": {"status": "Accepted"}}
    # The same envelope redelivered, and the same event retried (new frame): still one row.
    await run([started])
    await run([call("TransactionEvent", started.payload)])
    for i, wh in enumerate((1200, 1500), start=1):
        at = T0 + timedelta(minutes=i)
        [reply] = await run(
            [
                call(
                    "TransactionEvent",
                    tx_event("Updated", "tx-a", at, seq=i, meter=[energy(wh, at)]),
                )
            ]
        )
        assert result(reply) == {}
    end = T0 + timedelta(minutes=5)
    [reply] = await run(
        [
            call(
                "TransactionEvent",
                tx_event(
                    "Ended",
                    "tx-a",
                    end,
                    seq=3,
                    token="TAG-1",
                    meter=[energy(1.8, end, "Transaction.End", multiplier=3)],
                    stoppedReason="EVDisconnected",
                ),
            )
        ]
    )
    # kWh via multiplier: the Ended reading is 1.8 x 10^3 Wh.
    assert result(reply) == {"idTokenInfo": {"status": "Accepted"}}
    [row] = await tx_rows(sql)
    assert row["remote_transaction_id"] == "tx-a"
    assert row["connectorid"] == 1
    assert row["connector_uuid"] is not None
    assert row["id_tag"] == "TAG-1"
    assert row["id_tag_stop"] == "TAG-1"
    assert row["status"] == "Completed"
    assert row["reason_stopped"] == "EVDisconnected"
    assert row["start_transaction_timestamp"] == T0
    assert row["stop_transaction_timestamp"] == end
    assert (row["wh_meter_start"], row["wh_meter_stop"], row["wh_meter_last"]) == (1000, 1800, 1800)
    values = await sql(
        "select value, value_numeric, unit, measurand, context, connectorid, transaction_id "
        "from meter_value where chargepoint_id = :cp and measurand like 'Energy%' "
        "order by timestamp, seq",
        cp=CP,
    )
    # Started stored once: the redelivery and the retry (same seqNo) wrote nothing again.
    assert [v["value_numeric"] for v in values] == [
        Decimal(1000),
        Decimal(1200),
        Decimal(1500),
        Decimal(1800),
    ]
    assert {v["transaction_id"] for v in values} == {row["transaction_id"]}
    assert values[0]["unit"] == "Wh" and values[0]["context"] == "Transaction.Begin"
    names = publisher.names()
    assert names.count("transaction.started") == 3  # first + two repeats
    assert names.count("transaction.stopped") == 1
    assert "meter_values.received" not in names  # nothing consumes it
    stopped = publisher.named("transaction.stopped")[0].payload
    assert stopped["outcome"] == "stopped" and stopped["energy_wh"] == 800


async def test_ended_for_unknown_transaction_creates_the_row(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    at = T0 + timedelta(hours=1)
    ended = call(
        "TransactionEvent",
        tx_event("Ended", "offline-1", at, meter=[energy(5000, at)], stoppedReason="Remote"),
    )
    [reply] = await run([ended])
    assert result(reply) == {}
    [reply] = await run([call("TransactionEvent", ended.payload)])  # replayed again
    assert result(reply) == {}
    [row] = await tx_rows(sql)
    assert row["status"] == "Completed"
    assert row["id_tag"] == ""
    assert row["reason_stopped"] == "Remote"
    assert (row["wh_meter_start"], row["wh_meter_stop"]) == (5000, 5000)
    count = await sql("select count(*) as n from meter_value where chargepoint_id = :cp", cp=CP)
    assert count[0]["n"] == 2  # the repeated Ended stores nothing again


async def test_updated_first_then_started_and_late_token(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    """Cable plugged in first (no token), EVSE named late, token given by a later event."""
    await run([call("TransactionEvent", tx_event("Updated", "tx-b", T0, seq=1, evse=None))])
    [row] = await tx_rows(sql)
    assert (row["connectorid"], row["id_tag"], row["wh_meter_start"]) == (0, "", 0)
    at = T0 + timedelta(minutes=1)
    await run(
        [
            call(
                "TransactionEvent",
                tx_event("Started", "tx-b", at, evse=2, token="LATE", meter=[energy(300, at)]),
            )
        ]
    )
    [row] = await tx_rows(sql)
    assert row["connectorid"] == 2
    assert row["connector_uuid"] is not None
    assert row["id_tag"] == "LATE"
    # The first reading of a row created without one is its start.
    assert (row["wh_meter_start"], row["wh_meter_last"]) == (300, 300)


async def test_meter_values_retried_as_a_new_call_are_stored_once(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    # A MeterValuesRequest answered with a CALLERROR (lost broker confirm) but queued anyway,
    # then sent again as a new CALL with the same payload: its readings are stored once.
    payload = {
        "evseId": 1,
        "meterValue": [{"timestamp": iso(T0), "sampledValue": [{"value": 47.06}]}],
    }
    await run([call("MeterValues", payload)])
    await run([call("MeterValues", dict(payload))])
    rows = await sql("select value from meter_value where chargepoint_id = :cp", cp=CP)
    assert rows == [{"value": "47.06"}]


async def test_meter_values_without_transaction(chargepoint: str, sql: Sql, run: Run) -> None:
    payload = {
        "evseId": 2,
        "meterValue": [
            {
                "timestamp": iso(T0),
                "sampledValue": [
                    {"value": 7.5, "unitOfMeasure": {"unit": "kWh"}},
                    {"value": 230.1, "measurand": "Voltage", "unitOfMeasure": {"unit": "V"}},
                ],
            }
        ],
    }
    [reply] = await run([call("MeterValues", payload)])
    assert reply is None
    rows = await sql(
        "select transaction_id, connectorid, unit, value, value_numeric, format from meter_value "
        "where chargepoint_id = :cp order by seq",
        cp=CP,
    )
    assert rows == [
        {
            "transaction_id": None,
            "connectorid": 2,
            "unit": "kWh",
            "value": "7.5",
            "value_numeric": Decimal("7.5"),
            "format": "Raw",
        },
        {
            "transaction_id": None,
            "connectorid": 2,
            "unit": "V",
            "value": "230.1",
            "value_numeric": Decimal("230.1"),
            "format": "Raw",
        },
    ]


async def test_unreadable_event_is_refused_with_the_201_spelling(
    chargepoint: str, run: Run
) -> None:
    [reply] = await run([call("TransactionEvent", {"eventType": "Started"})])
    assert isinstance(reply, Envelope) and reply.kind is Kind.ERROR
    assert reply.error_code == "OccurrenceConstraintViolation"
