"""Public events of the transactions service, written to the event outbox with the change:
authorization.refused, transaction.started / updated (throttled, energy so far) / ended
(duration), reservation.used, reservation.created / cancelled (command effects)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transactions.command_effects import cancel_reservation, reserve_now
from shared.bus.topology import EVENTS
from shared.dispatch import Dispatcher, HandlerContext, Route, Router
from shared.envelope import Envelope, Kind
from shared.events.outbox import THROTTLE_MEMORY
from shared.messages import Message
from shared.settings import Settings
from tests.factories import RecordingPublisher, Run, Sql, delivery

from .helpers import CP, call
from .test_transactions_dispatch import T0, add_tag, iso, meter_payload, result, start
from .test_transactions_v201 import T0 as T1
from .test_transactions_v201 import call as call201
from .test_transactions_v201 import energy, tx_event

pytestmark = pytest.mark.integration


class EffectCalls(Message):
    """The test route's request: command effects to apply, (action, request) in order."""

    calls: list[tuple[str, dict[str, Any]]]


async def _events(sql: Sql) -> list[dict[str, Any]]:
    return await sql(
        "select type, seq, data, id_tag from event_outbox where chargepoint_id = :cp order by seq",
        cp=CP,
    )


async def test_a_transaction_reports_started_updated_and_ended(
    chargepoint: str, sql: Sql, run: Run
) -> None:
    THROTTLE_MEMORY.last.clear()  # transaction ids restart with every emptied database
    await add_tag(sql, "TAG-1")
    [refused] = await run([call("Authorize", {"idTag": "TAG-NOBODY"})])
    assert result(refused)["idTagInfo"]["status"] == "Invalid"
    [_accepted] = await run([call("Authorize", {"idTag": "TAG-1"})])
    tx = await start(run, meter=1000)
    # Two readings within the throttle interval: one transaction.updated.
    await run([call("MeterValues", meter_payload(tx, 1500, T0 + timedelta(minutes=1)))])
    await run([call("MeterValues", meter_payload(tx, 1700, T0 + timedelta(minutes=2)))])
    stop = {
        "transactionId": tx,
        "meterStop": 4000,
        "timestamp": iso(T0 + timedelta(hours=1)),
        "idTag": "TAG-1",
        "reason": "Local",
    }
    await run([call("StopTransaction", stop)])
    await run([call("StopTransaction", stop)])  # repeated: no second transaction.ended
    events = await _events(sql)
    assert [e["type"] for e in events].count("meter_values") == 1  # throttled too (opt-in)
    events = [e for e in events if e["type"] != "meter_values"]
    types = [e["type"] for e in events]
    assert types == [
        "authorization.refused",
        "transaction.started",
        "transaction.updated",
        "transaction.ended",
    ], types
    refused_data, started, updated, ended = (e["data"] for e in events)
    assert refused_data == {"id_tag": "TAG-NOBODY", "status": "Invalid", "action": "Authorize"}
    assert started["transaction_id"] == tx and started["meter_start_wh"] == 1000
    assert updated["meter_wh"] == 1500 and updated["energy_wh"] == 500
    assert ended["energy_wh"] == 3000 and ended["duration_s"] == 3600.0
    assert ended["outcome"] == "stopped" and ended["closed_by"] == "chargepoint"
    assert [e["id_tag"] for e in events] == ["TAG-NOBODY", "TAG-1", "TAG-1", "TAG-1"]


async def test_reservations_report_created_used_and_cancelled(
    chargepoint: str, sql: Sql, run: Run, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_tag(sql, "TAG-1")
    expiry = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    request = {"connectorId": 1, "expiryDate": iso(expiry), "idTag": "TAG-1"}

    async def effects(ctx: HandlerContext, env: Envelope, req: EffectCalls) -> None:
        for action, request in req.calls:
            effect = reserve_now if action == "ReserveNow" else cancel_reservation
            await effect(ctx, CP, request, {"status": "Accepted"})

    route = Route(EVENTS, "test.effects", effects, EffectCalls, chargepoint_required=False)
    dispatcher = Dispatcher(
        router=Router([route]),
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )
    calls = [
        ("ReserveNow", {**request, "reservationId": 1}),
        ("ReserveNow", {**request, "reservationId": 2}),
        ("CancelReservation", {"reservationId": 2}),
        ("CancelReservation", {"reservationId": 2}),  # not Active any more: no event
    ]
    await dispatcher(
        [delivery(Envelope(kind=Kind.EVENT, action="test.effects", payload={"calls": calls}))]
    )
    tx = await start(run, reservationId=1)
    events = [(e["type"], e["data"].get("reservation_id")) for e in await _events(sql)]
    assert events == [
        ("reservation.created", 1),
        ("reservation.created", 2),
        ("reservation.cancelled", 2),
        ("reservation.used", 1),
        ("transaction.started", 1),
    ]
    used = (await _events(sql))[-2]["data"]
    assert used["transaction_id"] == tx and used["id_tag"] == "TAG-1"


METER_EVENTS = ("transaction.updated", "meter_values")


async def _meter_events(sql: Sql) -> list[tuple[str, Any]]:
    return [
        (e["type"], e["data"]["meter_wh"]) for e in await _events(sql) if e["type"] in METER_EVENTS
    ]


@pytest.fixture
def unthrottled(dispatcher: Dispatcher, run: Run) -> Run:
    """`run` with the throttles off: every stored reading is an event."""
    THROTTLE_MEMORY.last.clear()
    dispatcher.settings = Settings(events_update_interval=0, events_meter_values_interval=0)
    return run


async def test_a_resent_meter_values_is_not_a_second_event(
    chargepoint: str, sql: Sql, unthrottled: Run
) -> None:
    run = unthrottled
    await add_tag(sql, "TAG-1")
    tx = await start(run, meter=1000)
    first = call("MeterValues", meter_payload(tx, 1500, T0 + timedelta(minutes=1)))
    await run([first])

    def resend() -> Envelope:  # a new CALL (new unique id), the same readings
        return call("MeterValues", meter_payload(tx, 1500, T0 + timedelta(minutes=1)))

    await run([first])  # the same envelope redelivered
    await run([resend()])
    await run([resend(), resend()])
    second = call("MeterValues", meter_payload(tx, 1800, T0 + timedelta(minutes=2)))
    await run([second, resend()])  # a new reading and a resend in one batch
    await run([resend(), call("MeterValues", meter_payload(tx, 2100, T0 + timedelta(minutes=3)))])
    assert await _meter_events(sql) == [
        ("transaction.updated", 1500),
        ("meter_values", 1500),
        ("transaction.updated", 1800),
        ("meter_values", 1800),
        ("transaction.updated", 2100),
        ("meter_values", 2100),
    ]
    stored = await sql("select count(*) as n from meter_value where transaction_id = :tx", tx=tx)
    assert stored[0]["n"] == 6  # 3 readings x 2 sampled values: nothing stored twice


async def test_a_retried_transaction_event_is_not_a_second_meter_event(
    chargepoint: str, sql: Sql, unthrottled: Run
) -> None:
    run = unthrottled
    await add_tag(sql, "TAG-1")
    started = tx_event("Started", "tx-rs-1", T1, token="TAG-1", meter=[energy(1000, T1)])
    updated = tx_event(
        "Updated", "tx-rs-1", T1 + timedelta(minutes=1), seq=1, meter=[energy(1400, T1)]
    )
    await run([call201("TransactionEvent", started)])
    await run([call201("TransactionEvent", updated)])
    await run([call201("TransactionEvent", updated)])  # seqNo 1 again: a retry by the station
    meter = {"evseId": 1, "meterValue": [energy(1600, T1 + timedelta(minutes=2))]}
    await run([call201("MeterValues", meter)])
    await run([call201("MeterValues", meter)])  # resent as a new CALL
    assert await _meter_events(sql) == [
        ("transaction.updated", 1000),
        ("meter_values", 1000),
        ("transaction.updated", 1400),
        ("meter_values", 1400),
        ("transaction.updated", 1600),
        ("meter_values", 1600),
    ]
