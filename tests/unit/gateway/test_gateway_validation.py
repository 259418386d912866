"""Schema validation: the error code of each kind of violation, per version."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.errors import ErrorKey
from services.gateway.validation import SchemaViolation, validate, validator_for
from services.gateway.versions import VERSIONS
from services.gateway.versions.base import Direction, ProtocolVersion

V16 = VERSIONS["ocpp1.6"]
V201 = VERSIONS["ocpp2.0.1"]

BOOT16 = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
BOOT201 = {"reason": "PowerUp", "chargingStation": {"model": "X1", "vendorName": "ACME"}}
METER16 = {
    "connectorId": 1,
    "meterValue": [
        {
            "timestamp": "2024-05-01T12:00:00.1234567+02:00",
            "sampledValue": [{"value": "12.5", "unit": "kWh"}],
        }
    ],
}


def _violation(version: Any, action: str, payload: dict[str, Any]) -> tuple[str, str, str]:
    with pytest.raises(SchemaViolation) as info:
        validate(version, action, Direction.REQUEST, payload)
    exc = info.value
    return version.error_code(exc.key), exc.details["path"], exc.description


def test_valid_payloads_pass() -> None:
    validate(V16, "BootNotification", Direction.REQUEST, BOOT16)
    validate(V16, "MeterValues", Direction.REQUEST, METER16)
    validate(V201, "BootNotification", Direction.REQUEST, BOOT201)


def test_validator_is_compiled_once() -> None:
    assert validator_for(V16, "Heartbeat", Direction.REQUEST) is validator_for(
        V16, "Heartbeat", Direction.REQUEST
    )


def test_validation_does_not_fill_defaults() -> None:
    payload: dict[str, Any] = {"connectorId": 0, "errorCode": "NoError", "status": "Available"}
    before = dict(payload)
    validate(V16, "StatusNotification", Direction.REQUEST, payload)
    assert payload == before


@pytest.mark.parametrize(
    ("version", "action", "payload", "code", "path"),
    [
        # type mismatch
        (V16, "BootNotification", {**BOOT16, "chargePointModel": 5}, "TypeConstraintViolation",
         "payload.chargePointModel"),
        (V201, "BootNotification", {**BOOT201, "reason": 1}, "TypeConstraintViolation",
         "payload.reason"),
        (V16, "StartTransaction",
         {"connectorId": True, "idTag": "A", "meterStart": 0, "timestamp": "2024-01-01T00:00:00Z"},
         "TypeConstraintViolation", "payload.connectorId"),
        # missing required
        (V16, "BootNotification", {"chargePointVendor": "ACME"}, "OccurenceConstraintViolation",
         "payload"),
        (V201, "BootNotification", {"reason": "PowerUp"}, "OccurrenceConstraintViolation",
         "payload"),
        # additional property
        (V16, "Heartbeat", {"extra": 1}, "OccurenceConstraintViolation", "payload"),
        (V201, "Heartbeat", {"extra": 1}, "OccurrenceConstraintViolation", "payload"),
        # enum
        (V16, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"},
         "PropertyConstraintViolation", "payload.status"),
        (V201, "BootNotification", {**BOOT201, "reason": "Bored"}, "PropertyConstraintViolation",
         "payload.reason"),
        # maxLength
        (V16, "BootNotification", {**BOOT16, "chargePointVendor": "x" * 21},
         "PropertyConstraintViolation", "payload.chargePointVendor"),
        (V201, "BootNotification",
         {**BOOT201, "chargingStation": {"model": "x" * 21, "vendorName": "A"}},
         "PropertyConstraintViolation", "payload.chargingStation.model"),
        # format (date-time without a timezone)
        (V16, "MeterValues",
         {"connectorId": 1, "meterValue": [{"timestamp": "2024-05-01 12:00",
                                           "sampledValue": [{"value": "1"}]}]},
         "PropertyConstraintViolation", "payload.meterValue[0].timestamp"),
    ],
)  # fmt: skip
def test_violation_codes(version, action, payload, code, path) -> None:  # type: ignore[no-untyped-def]
    got_code, got_path, description = _violation(version, action, payload)
    assert (got_code, got_path) == (code, path)
    assert description.startswith("payload")


def test_keys_are_neutral() -> None:
    with pytest.raises(SchemaViolation) as info:
        validate(V16, "Heartbeat", Direction.REQUEST, {"x": 1})
    assert info.value.key is ErrorKey.OCCURRENCE_CONSTRAINT


@pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])
def test_integers_beyond_32_bits_are_a_property_violation(version: ProtocolVersion) -> None:
    """OCPP integers are 32 bit; a bigger one must not pass and then fail in Postgres."""
    payload = (
        {"connectorId": 2**31, "errorCode": "NoError", "status": "Available"}
        if version is V16
        else {
            "timestamp": "2026-01-01T00:00:00Z",
            "connectorStatus": "Available",
            "evseId": 2**31,
            "connectorId": 1,
        }
    )
    with pytest.raises(SchemaViolation) as caught:
        validate(version, "StatusNotification", Direction.REQUEST, payload)
    assert caught.value.key is ErrorKey.PROPERTY_CONSTRAINT
    ok = dict(payload, **({"connectorId": 2**31 - 1} if version is V16 else {"evseId": 1}))
    validate(version, "StatusNotification", Direction.REQUEST, ok)


T0 = "2024-05-01T12:00:00Z"


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("StatusNotification", {"connectorId": -1, "errorCode": "NoError", "status": "Available"}),
        ("MeterValues", {**METER16, "connectorId": -1}),
        ("StartTransaction", {"connectorId": 0, "idTag": "A", "meterStart": 0, "timestamp": T0}),
        ("StartTransaction", {"connectorId": -3, "idTag": "A", "meterStart": 0, "timestamp": T0}),
    ],
)
def test_16_connector_id_below_its_bound(action: str, payload: dict[str, Any]) -> None:
    # §6.31, §6.47: connectorId >= 0; §6.45: connectorId > 0.
    code, path, _ = _violation(V16, action, payload)
    assert (code, path) == ("PropertyConstraintViolation", "payload.connectorId")


def test_16_connector_id_at_its_bound_passes() -> None:
    validate(V16, "MeterValues", Direction.REQUEST, {**METER16, "connectorId": 0})
    validate(
        V16,
        "StartTransaction",
        Direction.REQUEST,
        {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": T0},
    )
