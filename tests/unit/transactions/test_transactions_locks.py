"""What a batch locks up front (locks.wanted, pure): read from the payloads of its messages."""

from __future__ import annotations

from typing import Any

from services.transactions.locks import wanted
from shared.envelope import Envelope, Kind
from tests.factories import FakeDelivery


def delivery(key: str, payload: dict[str, Any], cp: str = "CP") -> FakeDelivery:
    env = Envelope(kind=Kind.CALL, action=key.split(".")[-1], payload=payload, chargepoint_id=cp)
    return FakeDelivery(env, key)


def test_every_message_kind_names_what_it_locks() -> None:
    w = wanted(
        [
            delivery("ocpp16.StopTransaction", {"transactionId": 7}),
            delivery("ocpp16.MeterValues", {"connectorId": 1, "transactionId": 3}),
            delivery("ocpp16.MeterValues", {"connectorId": 1}),
            delivery("ocpp16.StartTransaction", {"connectorId": 2, "idTag": "T1"}),
            delivery(
                "ocpp201.TransactionEvent",
                {
                    "transactionInfo": {"transactionId": "abc"},
                    "evse": {"id": 4},
                    "idToken": {"idToken": "T2", "type": "ISO14443"},
                },
            ),
            delivery("ocpp201.MeterValues", {"evseId": 5}),
            delivery("connector.status_changed", {"connectorId": 6, "status": "Available"}),
            delivery("chargepoint.booted", {"status": "Accepted"}, cp="CP-B"),
            delivery("ocpp16.Authorize", {"idTag": "NOT-LOCKED"}),
        ]
    )
    assert w.transaction_ids == {3, 7}
    assert w.connectors == {("CP", 2), ("CP", 4), ("CP", 5), ("CP", 6)}
    assert w.remote_ids == {("CP", "abc")}
    assert w.tags == {"T1", "T2"}
    assert w.chargepoints == {"CP-B"}


def test_unreadable_or_impossible_values_lock_nothing() -> None:
    w = wanted(
        [
            delivery("ocpp16.StopTransaction", {"transactionId": "x"}),
            delivery("ocpp16.StopTransaction", {"transactionId": 2**40}),
            delivery("ocpp16.StartTransaction", {"idTag": "T"}),
            delivery("ocpp201.MeterValues", {"evseId": 0}),
            delivery("ocpp201.TransactionEvent", {"eventType": "Started"}),
        ]
    )
    assert (w.transaction_ids, w.connectors, w.remote_ids, w.chargepoints) == (
        set(),
        set(),
        set(),
        set(),
    )
