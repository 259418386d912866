"""The transactions handlers through the real Dispatcher on the test database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transactions.routes import ROUTER
from shared.bus.consumer import Outcome
from shared.dispatch import Dispatcher
from shared.envelope import Envelope, Kind
from shared.ocpp import format_datetime
from shared.settings import Settings, UnknownChargePointPolicy
from tests.factories import RecordingPublisher, Run, Sql, delivery

from .helpers import CP, call

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def iso(dt: datetime) -> str:
    return format_datetime(dt)  # the one OCPP date-time form (milliseconds, Z)


def start_payload(
    tag: str = "TAG-1", *, meter: int = 1000, connector: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "connectorId": connector,
        "idTag": tag,
        "meterStart": meter,
        "timestamp": iso(T0),
        **extra,
    }


def meter_payload(tx: int | None, wh: int | str, at: datetime, **sampled: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": iso(at),
                "sampledValue": [
                    {"value": str(wh), **sampled},
                    {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                ],
            }
        ],
    }
    if tx is not None:
        payload["transactionId"] = tx
    return payload


def result(reply: Outcome) -> dict[str, Any]:
    assert isinstance(reply, Envelope), reply
    assert reply.kind is Kind.RESULT, (reply.error_code, reply.error_description)
    return reply.payload


async def add_tag(
    sql: Sql,
    token: str,
    *,
    revoked: bool = False,
    expiry: datetime | None = None,
    parent: str | None = None,
    limit: int | None = None,
) -> None:
    await sql(
        "insert into id_tag (id_token, revoked, expiry_date, parent_id_tag, "
        "max_active_transactions) values (:t, :r, :e, :p, :m)",
        t=token,
        r=revoked,
        e=expiry,
        p=parent,
        m=limit,
    )


async def start(run: Run, tag: str = "TAG-1", **kw: Any) -> int:
    [reply] = await run([call("StartTransaction", start_payload(tag, **kw))])
    tx = result(reply)["transactionId"]
    assert isinstance(tx, int)
    return tx


# -- Authorize ---------------------------------------------------------------------------------


async def test_authorize_outcomes(chargepoint: str, sql: Sql, run: Run) -> None:
    now = datetime.now(UTC)
    future = (now + timedelta(days=30)).replace(microsecond=0)
    await add_tag(sql, "PARENT")
    await add_tag(sql, "OK", parent="PARENT", expiry=future)
    await add_tag(sql, "PLAIN")
    await add_tag(sql, "OLD", expiry=now - timedelta(days=1))
    await add_tag(sql, "REVOKED", revoked=True, parent="PARENT")
    await add_tag(sql, "BUSY", limit=1)
    await start(run, "BUSY")

    tags = ["OK", "PLAIN", "NOBODY", "OLD", "REVOKED", "BUSY", "plain"]
    replies = await run([call("Authorize", {"idTag": t}) for t in tags])
    infos = {t: result(r)["idTagInfo"] for t, r in zip(tags, replies, strict=True)}

    assert infos["OK"] == {
        "status": "Accepted",
        "parentIdTag": "PARENT",
        "expiryDate": iso(future),
    }
    assert infos["PLAIN"] == {"status": "Accepted"}
    assert infos["NOBODY"] == {"status": "Invalid"}
    assert infos["OLD"]["status"] == "Expired"
    assert infos["OLD"]["expiryDate"].endswith("Z")
    assert infos["REVOKED"] == {"status": "Blocked", "parentIdTag": "PARENT"}
    assert infos["BUSY"] == {"status": "ConcurrentTx"}
    # OCPP 1.6 IdToken is case-insensitive.
    assert infos["plain"] == {"status": "Accepted"}

    logged = await sql(
        "select direction, message_type, payload from ocpp_message "
        "where action = 'Authorize' order by id"
    )
    assert len(logged) == 2 * len(tags)
    assert logged[1]["direction"] == "out" and logged[1]["message_type"] == 3
    assert logged[1]["payload"] == {"idTagInfo": infos["OK"]}


# -- A whole session -------------------------------------------------------------------------


async def test_start_three_meter_values_stop(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    await add_tag(sql, "TAG-1")
    [started] = await run([call("StartTransaction", start_payload(meter=1000))])
    answer = result(started)
    assert answer == {"transactionId": answer["transactionId"], "idTagInfo": {"status": "Accepted"}}
    tx = answer["transactionId"]

    for i, wh in enumerate((1500, 2000, 2500), start=1):
        [reply] = await run([call("MeterValues", meter_payload(tx, wh, T0 + timedelta(minutes=i)))])
        assert reply is None  # fire-and-forget: the gateway answered

    stop_payload = {
        "transactionId": tx,
        "idTag": "TAG-1",
        "meterStop": 3000,
        "timestamp": iso(T0 + timedelta(minutes=4)),
        "reason": "EVDisconnected",
        "transactionData": [
            {
                "timestamp": iso(T0 + timedelta(minutes=4)),
                "sampledValue": [{"value": "3.0", "unit": "kWh", "context": "Transaction.End"}],
            }
        ],
    }
    [stopped] = await run([call("StopTransaction", stop_payload)])
    assert result(stopped) == {"idTagInfo": {"status": "Accepted"}}

    [row] = await sql("select * from transaction")
    assert row["transaction_id"] == tx
    assert row["chargepoint_id"] == CP and row["connectorid"] == 1
    assert row["connector_uuid"] is not None
    assert row["id_tag"] == "TAG-1" and row["id_tag_stop"] == "TAG-1"
    assert (row["wh_meter_start"], row["wh_meter_stop"], row["wh_meter_last"]) == (1000, 3000, 3000)
    assert row["wh_meter_last_at"] == T0 + timedelta(minutes=4)  # the stop's
    assert row["start_transaction_timestamp"] == T0
    assert row["stop_transaction_timestamp"] == T0 + timedelta(minutes=4)
    assert (row["status"], row["reason_stopped"]) == ("Completed", "EVDisconnected")
    assert row["start_message_id"] and row["stop_message_id"]

    values = await sql(
        "select transaction_id, connectorid, seq, value, value_numeric, measurand, unit, "
        "context, location, format, phase from meter_value order by timestamp, seq"
    )
    assert len(values) == 7  # 3 messages x 2 sampled values + 1 transactionData value
    energy = [v for v in values if v["measurand"] == "Energy.Active.Import.Register"]
    assert [(v["value"], v["unit"], v["context"]) for v in energy] == [
        ("1500", "Wh", "Sample.Periodic"),
        ("2000", "Wh", "Sample.Periodic"),
        ("2500", "Wh", "Sample.Periodic"),
        ("3.0", "kWh", "Transaction.End"),
    ]
    assert all(v["transaction_id"] == tx and v["connectorid"] == 1 for v in values)
    assert all((v["location"], v["format"]) == ("Outlet", "Raw") for v in values)
    assert energy[0]["value_numeric"] == Decimal("1500")
    current = [v for v in values if v["measurand"] == "Current.Import"]
    assert [(v["seq"], v["unit"], v["phase"]) for v in current] == [(1, "A", "L1")] * 3

    counts = await sql("select action, count(*) as n from ocpp_message group by action")
    assert {c["action"]: c["n"] for c in counts} == {
        "StartTransaction": 2,
        "MeterValues": 6,
        "StopTransaction": 2,
    }
    assert publisher.names() == [
        "transaction.started",
        "transaction.stopped",
    ]
    assert publisher.events[-1].payload["energy_wh"] == 2000
    assert publisher.events[-1].chargepoint_id == CP


async def test_wh_meter_last_follows_meter_values_in_kwh(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    tx = await start(run, meter=0)
    await run(
        [call("MeterValues", meter_payload(tx, "1.2345", T0 + timedelta(minutes=1), unit="kWh"))]
    )
    # Exact (NUMERIC): 1.2345 kWh is 1234.5 Wh, not rounded.
    assert await sql("select wh_meter_last from transaction") == [
        {"wh_meter_last": Decimal("1234.5")}
    ]


async def test_wh_meter_last_at_is_the_time_of_the_reading_behind_wh_meter_last(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    async def last() -> tuple[int, datetime]:
        [row] = await sql("select wh_meter_last, wh_meter_last_at from transaction")
        return row["wh_meter_last"], row["wh_meter_last_at"]

    tx = await start(run, meter=100)
    assert await last() == (100, T0)  # StartTransaction: meterStart at the start
    # A reading at (or before) the start does not replace meterStart: not newer.
    await run([call("MeterValues", meter_payload(tx, 90, T0 - timedelta(seconds=1)))])
    await run([call("MeterValues", meter_payload(tx, 100, T0))])
    assert await last() == (100, T0)
    minute = T0 + timedelta(minutes=1)
    await run([call("MeterValues", meter_payload(tx, 400, minute))])
    assert await last() == (400, minute)
    # A redelivery (same reading) and a reading with the same timestamp change nothing.
    await run([call("MeterValues", meter_payload(tx, 400, minute))])
    await run([call("MeterValues", meter_payload(tx, 401, minute))])
    assert await last() == (400, minute)
    # Readings that are not the total register do not count.
    await run(
        [call("MeterValues", meter_payload(tx, 999, minute + timedelta(minutes=1), phase="L1"))]
    )
    assert await last() == (400, minute)


# -- Idempotency -----------------------------------------------------------------------------


async def test_duplicate_start_transaction_gets_the_same_id(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await add_tag(sql, "TAG-1")
    first = await start(run)
    # The charge point repeats it (lost answer): a new frame, a new correlation id.
    [again] = await run([call("StartTransaction", start_payload())])
    assert result(again) == {"transactionId": first, "idTagInfo": {"status": "Accepted"}}
    # Twice in one batch as well.
    replies = await run([call("StartTransaction", start_payload()) for _ in range(2)])
    assert [result(r)["transactionId"] for r in replies] == [first, first]
    assert await sql("select count(*) as n from transaction") == [{"n": 1}]


async def test_redelivered_envelopes_write_nothing_twice(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await add_tag(sql, "TAG-1")
    start_env = call("StartTransaction", start_payload())
    [first] = await run([start_env])
    tx = result(first)["transactionId"]
    meter_env = call("MeterValues", meter_payload(tx, 1500, T0 + timedelta(minutes=1)))
    stop_env = call(
        "StopTransaction",
        {
            "transactionId": tx,
            "meterStop": 2000,
            "timestamp": iso(T0 + timedelta(minutes=2)),
            "transactionData": [
                {"timestamp": iso(T0 + timedelta(minutes=2)), "sampledValue": [{"value": "2000"}]}
            ],
        },
    )
    await run([meter_env])
    [stop_first] = await run([stop_env])

    # The broker redelivers every one of them (e.g. the consumer died before its ack).
    replies = await run([start_env, meter_env, stop_env])
    assert result(replies[0]) == result(first)
    assert replies[1] is None
    assert result(replies[2]) == result(stop_first) == {}

    assert await sql("select count(*) as n from transaction") == [{"n": 1}]
    assert await sql("select count(*) as n from meter_value") == [{"n": 3}]
    assert await sql("select count(*) as n from ocpp_message") == [{"n": 6}]
    [row] = await sql("select status, reason_stopped, wh_meter_last from transaction")
    # Reason absent: OCPP 1.6 assumes Local.
    assert row == {"status": "Completed", "reason_stopped": "Local", "wh_meter_last": 2000}


async def test_meter_values_retried_as_a_new_call_are_stored_once(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    # The gateway answered the first MeterValues InternalError (the broker's confirm was lost
    # in a restart) although the broker had queued it; the charge point retries it as a new
    # CALL: new unique id, so a new correlation id, same payload (OCPP 1.6 §4.7). `make chaos`
    # found the readings stored twice.
    await add_tag(sql, "TAG-1")
    tx = await start(run)
    payload = meter_payload(tx, 1500, T0 + timedelta(minutes=1))
    first, retry = call("MeterValues", payload), call("MeterValues", dict(payload))
    assert (first.unique_id, first.correlation_id) != (retry.unique_id, retry.correlation_id)
    await run([first])
    await run([retry])
    await run([call("MeterValues", meter_payload(tx, 1600, T0 + timedelta(minutes=2)))])
    rows = await sql(
        "select value from meter_value where measurand = :m order by value",
        m="Energy.Active.Import.Register",
    )
    assert rows == [{"value": "1500"}, {"value": "1600"}]
    assert await sql("select count(*) as n from meter_value") == [{"n": 4}]
    # Both frames are in the message log: it records what came over the wire.
    logged = await sql("select count(*) as n from ocpp_message where action = 'MeterValues'")
    assert logged == [{"n": 6}]


async def test_repeated_stop_with_a_new_frame_keeps_the_first(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await add_tag(sql, "TAG-1")
    tx = await start(run)
    payload = {
        "transactionId": tx,
        "meterStop": 2000,
        "timestamp": iso(T0 + timedelta(minutes=2)),
        "reason": "Remote",
        "transactionData": [
            {"timestamp": iso(T0 + timedelta(minutes=2)), "sampledValue": [{"value": "2000"}]}
        ],
    }
    await run([call("StopTransaction", payload)])
    [again] = await run([call("StopTransaction", {**payload, "meterStop": 9999})])
    assert result(again) == {}
    [row] = await sql("select wh_meter_stop, reason_stopped, status from transaction")
    assert row == {"wh_meter_stop": 2000, "reason_stopped": "Remote", "status": "Completed"}
    assert await sql("select count(*) as n from meter_value") == [{"n": 1}]


# -- Anomalies -------------------------------------------------------------------------------


async def test_stop_of_an_unknown_transaction_is_accepted_and_recorded(
    chargepoint: str,
    sql: Sql,
    run: Run,
    caplog: pytest.LogCaptureFixture,
    publisher: RecordingPublisher,
) -> None:
    await add_tag(sql, "TAG-1")
    payload = {
        "transactionId": 987654,
        "idTag": "TAG-1",
        "meterStop": 4200,
        "timestamp": iso(T0),
        "transactionData": [
            {
                "timestamp": iso(T0),
                "sampledValue": [{"value": "4200", "context": "Transaction.End"}],
            }
        ],
    }
    with caplog.at_level(logging.WARNING):
        [reply] = await run([call("StopTransaction", payload)])
    assert result(reply) == {"idTagInfo": {"status": "Accepted"}}
    assert any(
        r.levelno == logging.WARNING and "unknown transaction 987654" in r.getMessage()
        for r in caplog.records
    )
    assert await sql("select count(*) as n from transaction") == [{"n": 0}]
    assert await sql("select transaction_id, value, context from meter_value") == [
        {"transaction_id": 987654, "value": "4200", "context": "Transaction.End"}
    ]
    logged = await sql("select direction, message_type from ocpp_message order by id")
    assert logged == [
        {"direction": "in", "message_type": 2},
        {"direction": "out", "message_type": 3},
    ]
    assert publisher.events[-1].payload["outcome"] == "unknown"


async def test_stop_without_id_tag_has_no_id_tag_info(chargepoint: str, run: Run) -> None:
    [reply] = await run(
        [call("StopTransaction", {"transactionId": 5, "meterStop": 1, "timestamp": iso(T0)})]
    )
    assert result(reply) == {}


async def test_stop_of_another_charge_points_transaction_does_not_touch_it(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await sql("insert into chargepoint (chargepoint_id) values ('CP-OTHER')")
    await add_tag(sql, "TAG-1")
    tx = await start(run)
    [reply] = await run(
        [
            call(
                "StopTransaction",
                {"transactionId": tx, "meterStop": 1, "timestamp": iso(T0)},
                chargepoint_id="CP-OTHER",
            )
        ]
    )
    assert result(reply) == {}
    assert await sql("select status from transaction") == [{"status": "Active"}]


async def test_start_with_an_invalid_tag_is_recorded_rejected(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    """Recorded (the charge point started), as Rejected with the answer it got: never open."""
    [reply] = await run([call("StartTransaction", start_payload("STRANGER"))])
    answer = result(reply)
    assert answer["idTagInfo"] == {"status": "Invalid"}
    rows = await sql("select transaction_id, id_tag, status, authorization_status from transaction")
    assert rows == [
        {
            "transaction_id": answer["transactionId"],
            "id_tag": "STRANGER",
            "status": "Rejected",
            "authorization_status": "Invalid",
        }
    ]


async def test_second_start_with_a_busy_tag_is_concurrent(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await add_tag(sql, "TAG-1", limit=1)
    first = await start(run, connector=1)
    [reply] = await run([call("StartTransaction", start_payload(connector=2))])
    answer = result(reply)
    assert answer["transactionId"] != first
    assert answer["idTagInfo"] == {"status": "ConcurrentTx"}
    rows = await sql(
        "select transaction_id, status, authorization_status from transaction order by 1"
    )
    assert rows == [
        {"transaction_id": first, "status": "Active", "authorization_status": "Accepted"},
        {
            "transaction_id": answer["transactionId"],
            "status": "Rejected",
            "authorization_status": "ConcurrentTx",
        },
    ]


async def test_malformed_payload_is_a_callerror_and_does_not_fail_the_batch(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    tx = await start(run)
    replies = await run(
        [
            call("StartTransaction", {"connectorId": 1, "idTag": "X", "timestamp": "soon"}),
            call("MeterValues", meter_payload(tx, 1500, T0 + timedelta(minutes=1))),
        ]
    )
    assert isinstance(replies[0], Envelope) and replies[0].kind is Kind.ERROR
    # Refused at parsing, with the 1.6 spelling of the violation: meterStart is missing.
    assert replies[0].error_code == "OccurenceConstraintViolation"
    assert (replies[0].error_details or {})["path"] == "payload.meterStart"
    assert replies[1] is None
    assert await sql("select count(*) as n from meter_value") == [{"n": 2}]
    assert await sql("select count(*) as n from transaction") == [{"n": 1}]


async def test_meter_values_without_or_with_unknown_transaction_are_stored(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await run(
        [
            call("MeterValues", meter_payload(None, 10, T0)),
            call("MeterValues", meter_payload(4242, 20, T0)),
        ]
    )
    rows = await sql(
        "select transaction_id, value from meter_value where unit = 'Wh' order by value"
    )
    assert rows == [
        {"transaction_id": None, "value": "10"},
        {"transaction_id": 4242, "value": "20"},
    ]


# -- Reordering ------------------------------------------------------------------------------


async def test_out_of_order_meter_values_keep_the_newest(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    tx = await start(run, meter=0)
    newest = call("MeterValues", meter_payload(tx, 3000, T0 + timedelta(minutes=3)))
    older = call("MeterValues", meter_payload(tx, 2000, T0 + timedelta(minutes=2)))
    oldest = call("MeterValues", meter_payload(tx, 1000, T0 + timedelta(minutes=1)))
    # Across batches: the newest arrives first.
    await run([newest])
    await run([oldest])
    assert await sql("select wh_meter_last from transaction") == [{"wh_meter_last": 3000}]
    # Within one batch, in reverse order.
    tx2 = await start(run, "TAG-2", meter=0, connector=2)
    await run(
        [
            call("MeterValues", meter_payload(tx2, 30, T0 + timedelta(minutes=3))),
            call("MeterValues", meter_payload(tx2, 10, T0 + timedelta(minutes=1))),
        ]
    )
    await run([older])
    rows = await sql("select transaction_id, wh_meter_last from transaction order by 1")
    assert rows == [
        {"transaction_id": tx, "wh_meter_last": 3000},
        {"transaction_id": tx2, "wh_meter_last": 30},
    ]


async def test_meter_values_after_stop_do_not_change_wh_meter_last(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    tx = await start(run, meter=0)
    await run(
        [
            call(
                "StopTransaction",
                {"transactionId": tx, "meterStop": 5000, "timestamp": iso(T0 + timedelta(hours=1))},
            )
        ]
    )
    # A MeterValues consumed late (a competing replica) still lands, but does not rewrite.
    await run([call("MeterValues", meter_payload(tx, 4000, T0 + timedelta(minutes=59)))])
    assert await sql("select wh_meter_last, wh_meter_stop from transaction") == [
        {"wh_meter_last": 5000, "wh_meter_stop": 5000}
    ]
    assert await sql("select count(*) as n from meter_value") == [{"n": 2}]


async def test_meter_values_naming_another_charge_points_transaction_change_nothing(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await sql("insert into chargepoint (chargepoint_id) values ('CP-OTHER')")
    tx = await start(run, meter=100)
    stray = meter_payload(tx, 999_999, T0 + timedelta(minutes=1))
    await run([call("MeterValues", stray, chargepoint_id="CP-OTHER")])
    assert await sql("select wh_meter_last from transaction") == [{"wh_meter_last": 100}]
    # ... and do not hide the owner's own, older readings either.
    await run([call("MeterValues", meter_payload(tx, 200, T0 + timedelta(seconds=30)))])
    assert await sql("select wh_meter_last from transaction") == [{"wh_meter_last": 200}]
    assert await sql("select count(*) as n from meter_value") == [{"n": 4}]


# -- Reservations ----------------------------------------------------------------------------


async def test_reservation_is_consumed(chargepoint: str, sql: Sql, run: Run) -> None:
    [connector] = await sql(
        "select uuid from connector where chargepoint_id = :cp and connectorid = 1", cp=CP
    )
    await sql(
        "insert into reservation (chargepoint_id, connectorid, connector_uuid,"
        " reservation_id, expiry_date, id_tag, status)"
        " values (:cp, 1, :c, 42, :e, 'TAG-1', 'Active'), (:cp, 1, :c, 43, :e, 'TAG-1', 'Active')",
        cp=CP,
        c=connector["uuid"],
        e=datetime.now(UTC) + timedelta(hours=1),
    )
    tx = await start(run, reservationId=42)
    rows = await sql("select reservation_id, status, transaction_id from reservation order by 1")
    assert rows == [
        {"reservation_id": 42, "status": "Used", "transaction_id": tx},
        {"reservation_id": 43, "status": "Active", "transaction_id": None},
    ]
    assert await sql("select reservation_id from transaction") == [{"reservation_id": 42}]


async def test_reservation_of_any_connector_is_consumed_on_its_charge_point_only(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    """ReserveNow connectorId 0: no connector row; the charge point's start on any connector."""
    await sql("insert into chargepoint (chargepoint_id) values ('CP-OTHER')")
    await sql(
        "insert into reservation (chargepoint_id, connectorid, reservation_id, expiry_date, id_tag)"
        " values ('CP-OTHER', 0, 50, :e, 'TAG-1'), (:cp, 0, 51, :e, 'TAG-1')",
        cp=CP,
        e=datetime.now(UTC) + timedelta(hours=1),
    )
    tx = await start(run, reservationId=50, connector=2)  # CP-OTHER's: not consumed
    tx2 = await start(run, "TAG-2", reservationId=51, connector=1)
    rows = await sql("select reservation_id, status, transaction_id from reservation order by 1")
    assert rows == [
        {"reservation_id": 50, "status": "Active", "transaction_id": None},
        {"reservation_id": 51, "status": "Used", "transaction_id": tx2},
    ]
    assert tx != tx2


async def test_unknown_reservation_does_not_stop_the_start(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    tx = await start(run, reservationId=7)
    assert await sql("select transaction_id, reservation_id from transaction") == [
        {"transaction_id": tx, "reservation_id": 7}
    ]


# -- Batches ---------------------------------------------------------------------------------


async def test_a_batch_of_200_meter_values_in_one_dispatcher_call(
    chargepoint: str, sql: Sql, run: Run, publisher: RecordingPublisher
) -> None:
    tx = await start(run, meter=0)
    envelopes = [
        call("MeterValues", meter_payload(tx, 10 * i, T0 + timedelta(seconds=i)))
        for i in range(1, 201)
    ]
    replies = await run(envelopes)
    assert replies == [None] * 200
    assert await sql("select count(*) as n from meter_value") == [{"n": 400}]
    assert await sql("select count(*) as n from ocpp_message where action = 'MeterValues'") == [
        {"n": 400}
    ]
    assert await sql("select wh_meter_last from transaction") == [{"wh_meter_last": 2000}]
    assert "meter_values.received" not in publisher.names()  # nothing consumes it


# -- Unknown charge points -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "registration"),
    [
        (UnknownChargePointPolicy.PENDING, "Pending"),
        (UnknownChargePointPolicy.ACCEPT, "Accepted"),
        (UnknownChargePointPolicy.REJECT, "Rejected"),
    ],
)
async def test_start_from_a_charge_point_without_a_row_is_recorded(
    clean_db: None,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    sql: Sql,
    policy: UnknownChargePointPolicy,
    registration: str,
) -> None:
    """It never booted and the registry has not seen it yet: the FK must not lose the start."""
    dispatcher = Dispatcher(
        router=ROUTER,
        sessionmaker=db_sessionmaker,
        settings=Settings(unknown_chargepoints=policy),
        publisher=RecordingPublisher(),
    )
    start_env = call("StartTransaction", start_payload(), chargepoint_id="CP-NEW")
    [reply] = await dispatcher([delivery(start_env)])
    tx = result(reply)["transactionId"]
    assert await sql("select chargepoint_id, registration_status, connected from chargepoint") == [
        {"chargepoint_id": "CP-NEW", "registration_status": registration, "connected": False}
    ]
    [row] = await sql("select transaction_id, connector_uuid, status from transaction")
    # TAG-1 is unknown here: recorded, Rejected (Invalid), and still measured and stopped.
    assert row == {"transaction_id": tx, "connector_uuid": None, "status": "Rejected"}
    # MeterValues and StopTransaction write no row with a foreign key to chargepoint.
    meter_env = call(
        "MeterValues", meter_payload(tx, 500, T0 + timedelta(minutes=1)), chargepoint_id="CP-NEW"
    )
    stop_env = call(
        "StopTransaction",
        {"transactionId": tx, "meterStop": 600, "timestamp": iso(T0 + timedelta(minutes=2))},
        chargepoint_id="CP-NEW",
    )
    assert await dispatcher([delivery(meter_env), delivery(stop_env)]) == [None, ANY]
    [row] = await sql("select status, wh_meter_last, wh_meter_stop from transaction")
    assert row == {"status": "Rejected", "wh_meter_last": 600, "wh_meter_stop": 600}


async def test_start_does_not_touch_an_existing_charge_point_row(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    await start(run)
    assert await sql("select registration_status from chargepoint") == [
        {"registration_status": "Accepted"}
    ]


async def test_readings_too_big_for_the_columns_are_stored_as_text_and_lose_nothing(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    """A lifetime register beyond 32-bit Wh (a DC charger after years) or an absurd exponent
    must not fail the batch in Postgres: the value is kept as sent, the rest of the batch lands,
    and wh_meter_last (NUMERIC since 0005) follows the big register but not the absurd one."""
    tx = await start(run, meter=1000)
    replies = await run(
        [
            call("MeterValues", meter_payload(tx, 1500, T0 + timedelta(minutes=1))),
            call("MeterValues", meter_payload(tx, 6_500_000_000, T0 + timedelta(minutes=2))),
            call("MeterValues", meter_payload(tx, "1e999999", T0 + timedelta(minutes=3))),
        ]
    )
    assert replies == [None, None, None]
    rows = await sql(
        "select value, value_numeric from meter_value where transaction_id = :t "
        "and unit = 'Wh' order by timestamp",
        t=tx,
    )
    assert [r["value"] for r in rows] == ["1500", "6500000000", "1e999999"]
    assert rows[1]["value_numeric"] == 6_500_000_000
    assert rows[2]["value_numeric"] is None
    [row] = await sql("select wh_meter_last from transaction where transaction_id = :t", t=tx)
    assert row["wh_meter_last"] == 6_500_000_000
