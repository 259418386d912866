"""What a batch locks up front (locks.wanted, pure): read from the parsed requests."""

from __future__ import annotations

from typing import Any

from services.transactions.locks import wanted
from services.transactions.routes import ROUTER
from shared.dispatch import Parsed, parse_delivery
from shared.envelope import Envelope, Kind
from tests.factories import FakeDelivery

TS = "2025-01-01T00:00:00Z"


def parsed(key: str, payload: dict[str, Any], cp: str = "CP") -> Parsed[Any]:
    kind = Kind.EVENT if key.count(".") == 1 and not key.startswith("ocpp") else Kind.CALL
    env = Envelope(kind=kind, action=key.split(".")[-1], payload=payload, chargepoint_id=cp)
    outcome = parse_delivery(ROUTER.routes[key], FakeDelivery(env, key))
    assert isinstance(outcome, Parsed), outcome
    return outcome


def meter(value: Any = 1) -> list[dict[str, Any]]:
    return [{"timestamp": TS, "sampledValue": [{"value": value}]}]


def tx_event(**kw: Any) -> dict[str, Any]:
    return {
        "eventType": "Started",
        "timestamp": TS,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "abc"},
        **kw,
    }


def test_every_message_kind_names_what_it_locks() -> None:
    w = wanted(
        [
            parsed("ocpp16.StopTransaction", {"transactionId": 7, "meterStop": 1, "timestamp": TS}),
            parsed(
                "ocpp16.MeterValues",
                {"connectorId": 1, "transactionId": 3, "meterValue": meter("1")},
            ),
            parsed("ocpp16.MeterValues", {"connectorId": 1, "meterValue": meter("1")}),
            parsed(
                "ocpp16.StartTransaction",
                {"connectorId": 2, "idTag": "T1", "meterStart": 0, "timestamp": TS},
            ),
            parsed(
                "ocpp201.TransactionEvent",
                tx_event(evse={"id": 4}, idToken={"idToken": "T2", "type": "ISO14443"}),
            ),
            parsed("ocpp201.MeterValues", {"evseId": 5, "meterValue": meter()}),
            parsed("connector.status_changed", {"connectorId": 6, "status": "Available"}),
            parsed("chargepoint.booted", {"status": "Accepted"}, cp="CP-B"),
            parsed("ocpp16.Authorize", {"idTag": "NOT-LOCKED"}),
        ]
    )
    assert w.transaction_ids == {3, 7}
    assert w.connectors == {("CP", 2), ("CP", 4), ("CP", 5), ("CP", 6)}
    assert w.remote_ids == {("CP", "abc")}
    assert w.tags == {"T1", "T2"}
    assert w.chargepoints == {"CP-B"}


def test_impossible_values_lock_nothing() -> None:
    w = wanted(
        [
            parsed("ocpp16.StopTransaction", {"transactionId": 0, "meterStop": 1, "timestamp": TS}),
            parsed("ocpp201.MeterValues", {"evseId": 0, "meterValue": meter()}),
            parsed(
                "ocpp201.TransactionEvent",
                tx_event(idToken={"idToken": "", "type": "NoAuthorization"}),
            ),
        ]
    )
    assert (w.transaction_ids, w.connectors, w.tags) == (set(), set(), set())


def test_unreadable_payloads_never_reach_the_lock_step() -> None:
    env = Envelope(
        kind=Kind.CALL,
        action="StopTransaction",
        payload={"transactionId": "x", "meterStop": 1, "timestamp": TS},
        chargepoint_id="CP",
    )
    key = "ocpp16.StopTransaction"
    refused = parse_delivery(ROUTER.routes[key], FakeDelivery(env, key))
    assert isinstance(refused, Envelope) and refused.error_code == "TypeConstraintViolation"
