"""Pure mappings of the OCPP 2.0.1 transactions handlers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from services.transactions.handlers.v201 import transaction_event
from services.transactions.handlers.v201.transaction_event import (
    MAX_MISSING,
    TxEvent,
    _changes,
    seq_no_changes,
    seq_no_seen,
)
from services.transactions.idtags import id_token_info
from services.transactions.meter import Sample, iter_samples_201
from services.transactions.meter import parse_sampled_value_201 as parse_model_201
from shared.ocpp.v201.common import MeterValueType, SampledValueType
from shared.ocpp.v201.transaction_event_request import TransactionEventRequest

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 1, 1, 0, 5, tzinfo=UTC)


def parse_sampled_value_201(payload: dict[str, Any], timestamp: datetime) -> Sample:
    """A SampledValue as received (camelCase JSON), parsed as the dispatcher does first."""
    return parse_model_201(SampledValueType.model_validate(payload), timestamp)


def parse_event(payload: dict[str, Any]) -> TxEvent:
    """A TransactionEventRequest as received, parsed as the dispatcher does first."""
    return transaction_event.parse_event(TransactionEventRequest.model_validate(payload))


def test_sampled_value_defaults() -> None:
    s = parse_sampled_value_201({"value": 1234}, T0)
    assert (s.measurand, s.unit, s.context, s.location, s.format, s.phase) == (
        "Energy.Active.Import.Register",
        "Wh",
        "Sample.Periodic",
        "Outlet",
        "Raw",
        None,
    )
    assert (s.value, s.value_numeric, s.energy_wh()) == ("1234", Decimal(1234), Decimal(1234))


def test_sampled_value_multiplier_and_units() -> None:
    s = parse_sampled_value_201({"value": 1.5, "unitOfMeasure": {"multiplier": 3}}, T0)
    assert s.value == "1.5" and s.energy_wh() == 1500
    k = parse_sampled_value_201({"value": 2.25, "unitOfMeasure": {"unit": "kWh"}}, T0)
    assert k.energy_wh() == 2250
    v = parse_sampled_value_201(
        {"value": 230, "measurand": "Voltage", "phase": "L1", "unitOfMeasure": {"unit": "V"}}, T0
    )
    assert (v.unit, v.phase, v.energy_wh()) == ("V", "L1", None)


def test_iter_samples_201_keeps_order_and_timestamps() -> None:
    samples = list(
        iter_samples_201(
            [
                MeterValueType.model_validate(v)
                for v in (
                    {
                        "timestamp": "2025-01-01T00:00:00Z",
                        "sampledValue": [{"value": 1}, {"value": 2}],
                    },
                    {"timestamp": "2025-01-01T00:05:00.5+00:00", "sampledValue": [{"value": 3}]},
                )
            ]
        )
    )
    assert [s.value for s in samples] == ["1", "2", "3"]
    assert samples[2].timestamp == T1.replace(microsecond=500000)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"status": "Invalid"}, {"status": "Invalid"}),
        ({"status": "ConcurrentTx"}, {"status": "ConcurrentTx"}),
        (
            {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z", "parentIdTag": "G"},
            {
                "status": "Accepted",
                "cacheExpiryDateTime": "2030-01-01T00:00:00Z",
                "groupIdToken": {"idToken": "G", "type": "Central"},
            },
        ),
    ],
)
def test_id_token_info(info: dict[str, Any], expected: dict[str, Any]) -> None:
    assert id_token_info(info) == expected


def event(**kw: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": "Started",
        "timestamp": "2025-01-01T00:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "abc"},
    }
    payload.update(kw)
    return payload


def test_parse_event() -> None:
    ev = parse_event(
        event(
            evse={"id": 2, "connectorId": 1},
            idToken={"idToken": "TAG", "type": "ISO14443"},
            reservationId=7,
            meterValue=[{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": 5}]}],
        )
    )
    assert (ev.event_type, ev.remote_id, ev.evse_id, ev.id_token, ev.reservation_id) == (
        "Started",
        "abc",
        2,
        "TAG",
        7,
    )
    assert ev.timestamp == T0 and ev.stopped_reason == "Local" and len(ev.samples) == 1


def test_parse_event_no_authorization_and_reasons() -> None:
    ev = parse_event(event(idToken={"idToken": "", "type": "NoAuthorization"}))
    assert ev.id_token is None and ev.evse_id is None
    info = {"transactionId": "abc", "stoppedReason": "EVDisconnected"}
    assert parse_event(event(transactionInfo=info)).stopped_reason == "EVDisconnected"
    with pytest.raises(ValidationError):  # the gateway refuses it: the dispatcher too
        parse_event(event(transactionInfo={"transactionId": "abc", "stoppedReason": "Vendor"}))
    with pytest.raises(ValidationError):
        parse_event({"eventType": "Started"})


NOW = datetime(2025, 1, 2, tzinfo=UTC)


def row(**kw: Any) -> Any:
    base = {
        "chargepoint_id": "CP",
        "id_tag": "TAG",
        "connectorid": 1,
        "status": "Active",
        "start_transaction_timestamp": T0,
        "wh_meter_start": 0,
        "wh_meter_last": 100,
        "wh_meter_last_at": T0,
        "wh_meter_stop": None,
        "stop_transaction_timestamp": None,
        "stop_message_id": None,
        "reason_stopped": None,
        "closed_by": None,
        "seq_no_max": 0,
        "missing_seq_nos": [],
        "remote_start_id": None,
        "trigger_reason": "Authorized",
        "charging_state": "Charging",
    }
    return SimpleNamespace(**{**base, **kw})


def changes(r: Any, ev: Any, reading: Any, *, new: bool = False) -> dict[str, Any]:
    return _changes(r, ev, reading, new=new, key="k", now=NOW)


def test_changes_updated_newer_reading_only() -> None:
    ev = parse_event(event(eventType="Updated", seqNo=0))
    assert changes(row(), ev, (T1, 200)) == {
        "wh_meter_last": 200,
        "wh_meter_last_at": T1,
    }
    assert changes(row(), ev, (T0, 50)) == {}
    # A row created without a reading: the first reading is also the start.
    first = changes(row(wh_meter_last_at=None), ev, (T0, 50))
    assert first["wh_meter_start"] == 50


def test_changes_ended() -> None:
    ev = parse_event(event(eventType="Ended", timestamp="2025-01-01T00:05:00Z"))
    values = changes(row(), ev, None)
    assert values == {
        "stop_transaction_timestamp": T1,
        "wh_meter_stop": 100,
        "wh_meter_last": 100,
        "wh_meter_last_at": T1,
        "reason_stopped": "Local",
        "stop_trigger_reason": "Authorized",
        "id_tag_stop": None,
        "status": "Completed",
        "stop_message_id": "k",
    }
    done = row(status="Completed", stop_message_id="first")
    assert changes(done, ev, (T1, 999)) == {}


def test_changes_fill_token_and_evse_later() -> None:
    ev = parse_event(
        event(eventType="Updated", evse={"id": 3}, idToken={"idToken": "T", "type": "Central"})
    )
    values = changes(row(id_tag="", connectorid=0), ev, None)
    assert values["id_tag"] == "T" and values["connectorid"] == 3
    assert "connector_uuid" in values


def test_seq_no_gaps_are_recorded_and_filled() -> None:
    r = row(seq_no_max=2, missing_seq_nos=[])
    assert seq_no_changes(r, 5) == {"seq_no_max": 5, "missing_seq_nos": [3, 4]}
    gapped = row(seq_no_max=5, missing_seq_nos=[3, 4])
    assert seq_no_changes(gapped, 4) == {"missing_seq_nos": [3]}
    assert seq_no_changes(gapped, 1) == {}  # seen already
    assert seq_no_changes(row(seq_no_max=None, missing_seq_nos=None), 7) == {
        "seq_no_max": 7,
        "missing_seq_nos": [],
    }
    huge = seq_no_changes(row(seq_no_max=0), 10 * MAX_MISSING)
    assert len(huge["missing_seq_nos"]) == MAX_MISSING
    assert huge["missing_seq_nos"][-1] == 10 * MAX_MISSING - 1


@pytest.mark.parametrize(("seq", "seen"), [(0, True), (2, True), (3, False), (4, True), (6, False)])
def test_seq_no_seen(seq: int, seen: bool) -> None:
    assert seq_no_seen(row(seq_no_max=5, missing_seq_nos=[3, 5]), seq) is seen


def test_a_late_started_moves_the_start_back_and_gives_the_meter_start() -> None:
    ev = parse_event(event(eventType="Started", seqNo=0, timestamp="2024-12-31T23:50:00Z"))
    values = changes(row(seq_no_max=3, missing_seq_nos=[0]), ev, (T0, Decimal("47.06")))
    assert values["start_transaction_timestamp"] == datetime(2024, 12, 31, 23, 50, tzinfo=UTC)
    assert values["wh_meter_start"] == Decimal("47.06")
    assert values["missing_seq_nos"] == []


def test_an_updated_after_ended_does_not_reopen() -> None:
    ended = row(
        status="Completed",
        stop_message_id="end",
        seq_no_max=5,
        missing_seq_nos=[4],
        stop_transaction_timestamp=T1,
    )
    ev = parse_event(event(eventType="Updated", seqNo=4, timestamp="2025-01-01T00:04:00Z"))
    values = changes(ended, ev, (T1, Decimal(900)))
    assert values == {"missing_seq_nos": []}


def test_ended_after_a_csms_close_is_a_correction() -> None:
    closed = row(
        status="Completed",
        closed_by="csms",
        reason_stopped="Stale",
        wh_meter_stop=Decimal(100),
        stop_transaction_timestamp=T0,
    )
    ev = parse_event(
        event(
            eventType="Ended",
            seqNo=1,
            timestamp="2025-01-01T00:05:00Z",
            transactionInfo={"transactionId": "abc", "stoppedReason": "PowerLoss"},
        )
    )
    values = changes(closed, ev, (T1, Decimal("150.5")))
    assert values["wh_meter_stop"] == Decimal("150.5")
    assert values["stop_transaction_timestamp"] == T1
    assert values["reason_stopped"] == "PowerLoss"
    assert values["closed_by"] is None and values["corrected_at"] == NOW
    assert (values["estimated_wh_meter_stop"], values["estimated_reason_stopped"]) == (
        Decimal(100),
        "Stale",
    )
    assert values["estimated_closed_by"] == "csms"


def test_remote_start_id_is_read_and_stored_once() -> None:
    payload = {
        "eventType": "Started",
        "timestamp": "2025-01-01T00:00:00Z",
        "triggerReason": "RemoteStart",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "t-1", "remoteStartId": 31},
    }
    ev = parse_event(payload)
    assert ev.remote_start_id == 31
    assert changes(row(), ev, None)["remote_start_id"] == 31
    assert "remote_start_id" not in changes(row(remote_start_id=30), ev, None)
    without = parse_event({**payload, "transactionInfo": {"transactionId": "t-1"}})
    assert without.remote_start_id is None
    assert "remote_start_id" not in changes(row(), without, None)


def test_changes_charging_state_latest_event_only() -> None:
    info = {"transactionId": "abc", "chargingState": "SuspendedEV"}
    newer = parse_event(event(eventType="Updated", seqNo=3, transactionInfo=info))
    assert changes(row(seq_no_max=2), newer, None)["charging_state"] == "SuspendedEV"
    older = parse_event(event(eventType="Updated", seqNo=1, transactionInfo=info))
    assert "charging_state" not in changes(row(seq_no_max=2, missing_seq_nos=[1]), older, None)
