"""Version tables: handled actions, NotImplemented vs NotSupported, fixed answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.gateway.errors import ErrorKey
from services.gateway.validation import validate
from services.gateway.versions import VERSIONS
from services.gateway.versions.base import ActionRejected, Direction, Handling
from shared.ocpp import format_datetime

V16 = VERSIONS["ocpp1.6"]
V201 = VERSIONS["ocpp2.0.1"]
NOW = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_registry_is_keyed_by_subprotocol() -> None:
    assert list(VERSIONS) == ["ocpp1.6", "ocpp2.0.1"]


@pytest.mark.parametrize(
    ("version", "action", "handling"),
    [
        (V16, "BootNotification", Handling.RPC),
        (V16, "StartTransaction", Handling.RPC),
        (V16, "StopTransaction", Handling.RPC),
        (V16, "Heartbeat", Handling.FIXED),
        (V16, "MeterValues", Handling.FIXED),
        (V201, "TransactionEvent", Handling.RPC),
        (V201, "NotifyReport", Handling.FIXED),
    ],
)
def test_handled_actions(version, action, handling) -> None:  # type: ignore[no-untyped-def]
    how = version.classify(action)
    assert not isinstance(how, ActionRejected)
    assert how.handling is handling


@pytest.mark.parametrize(
    ("version", "action", "key", "code"),
    [
        # known to the version (a CSMS->CP command, or not handled here): NotSupported
        (V16, "Reset", ErrorKey.NOT_SUPPORTED, "NotSupported"),
        (V16, "InstallCertificate", ErrorKey.NOT_SUPPORTED, "NotSupported"),
        (V201, "RequestStartTransaction", ErrorKey.NOT_SUPPORTED, "NotSupported"),
        # not an action of the version at all: NotImplemented
        (V16, "TransactionEvent", ErrorKey.NOT_IMPLEMENTED, "NotImplemented"),
        (V16, "Bogus", ErrorKey.NOT_IMPLEMENTED, "NotImplemented"),
        (V201, "StartTransaction", ErrorKey.NOT_IMPLEMENTED, "NotImplemented"),
    ],
)
def test_refused_actions(version, action, key, code) -> None:  # type: ignore[no-untyped-def]
    how = version.classify(action)
    assert isinstance(how, ActionRejected)
    assert how.key is key
    assert version.error_code(how.key) == code


def test_error_spellings_differ_per_version() -> None:
    assert V16.error_code(ErrorKey.OCCURRENCE_CONSTRAINT) == "OccurenceConstraintViolation"
    assert V201.error_code(ErrorKey.OCCURRENCE_CONSTRAINT) == "OccurrenceConstraintViolation"
    assert V16.error_code(ErrorKey.FORMAT_VIOLATION) == "FormationViolation"
    assert V201.error_code(ErrorKey.FORMAT_VIOLATION) == "FormatViolation"
    for version in VERSIONS.values():
        assert set(version.error_codes) == set(ErrorKey)


@pytest.mark.parametrize("version", [V16, V201])
def test_fixed_answers_match_their_response_schema(version) -> None:  # type: ignore[no-untyped-def]
    for action, how in version.upstream.items():
        if how.handling is Handling.FIXED:
            assert how.answer is not None
            validate(version, action, Direction.RESPONSE, how.answer(NOW))


def test_heartbeat_time_is_utc_with_z() -> None:
    how = V16.classify("Heartbeat")
    assert not isinstance(how, ActionRejected) and how.answer is not None
    assert how.answer(NOW) == {"currentTime": "2024-05-01T12:00:00.123Z"}
    assert format_datetime(NOW) == "2024-05-01T12:00:00.123Z"


@pytest.mark.parametrize("version", [V16, V201])
def test_every_table_entry_has_schemas(version) -> None:  # type: ignore[no-untyped-def]
    for action in [*version.upstream, *version.downstream]:
        assert action in version.known_actions
        for direction in Direction:
            version.schema_text(action, direction)


@pytest.mark.parametrize(
    ("version", "action", "payload", "allowed"),
    [
        (V16, "TriggerMessage", {"requestedMessage": "StatusNotification"}, {"StatusNotification"}),
        (
            V16,
            "TriggerMessage",
            {"requestedMessage": "MeterValues", "connectorId": 1},
            {"MeterValues"},
        ),
        (
            V16,
            "ExtendedTriggerMessage",
            {"requestedMessage": "FirmwareStatusNotification"},
            {"FirmwareStatusNotification", "SignedFirmwareStatusNotification"},
        ),
        (
            V16,
            "ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},
            {"SignCertificate"},
        ),
        (V201, "TriggerMessage", {"requestedMessage": "TransactionEvent"}, {"TransactionEvent"}),
        (V201, "TriggerMessage", {"requestedMessage": "SignV2GCertificate"}, {"SignCertificate"}),
        (V201, "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}, {"NotifyReport"}),
        (V201, "GetReport", {"requestId": 1}, {"NotifyReport"}),
    ],
)
def test_what_a_command_asks_a_pending_charge_point_to_send(  # type: ignore[no-untyped-def]
    version, action, payload, allowed
) -> None:
    assert version.triggered(action, payload) == frozenset(allowed)


@pytest.mark.parametrize(
    ("version", "action"), [(V16, "Reset"), (V16, "GetConfiguration"), (V201, "GetVariables")]
)
def test_other_commands_trigger_nothing(version, action) -> None:  # type: ignore[no-untyped-def]
    assert version.triggered(action, {}) is None


def test_an_id_in_flight_is_spelled_per_version() -> None:
    assert V16.error_code(ErrorKey.IN_FLIGHT) == "ProtocolError"
    assert V201.error_code(ErrorKey.IN_FLIGHT) == "RpcFrameworkError"
    assert (
        V16.error_code(ErrorKey.SECURITY) == V201.error_code(ErrorKey.SECURITY) == "SecurityError"
    )
