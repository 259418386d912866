"""The routing table: every command of both versions, its REST route, its 2.0.1 body model."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest
from pydantic import BaseModel, ValidationError

from services.api.commands.schemas import (
    BY_SLUG,
    BY_SLUG_201,
    COMMANDS_201,
    SPECS,
    load_schema,
)
from services.gateway.versions import VERSIONS
from shared import ocpp
from shared.commands import (
    COMMANDS_BY_VERSION,
    COMMANDS_V16,
    COMMANDS_V201,
    equivalent,
    kebab,
    to_snake,
)
from shared.ocpp import OCPP16, OCPP201

from .examples import example201, minimal201

# Issue 12: every 2.0.1 CSMS-initiated message but the certificate ones.
ISSUE_V201 = [
    "RequestStartTransaction",
    "RequestStopTransaction",
    "Reset",
    "ChangeAvailability",
    "UnlockConnector",
    "TriggerMessage",
    "GetVariables",
    "SetVariables",
    "GetBaseReport",
    "GetReport",
    "SetNetworkProfile",
    "ClearCache",
    "SendLocalList",
    "GetLocalListVersion",
    "ReserveNow",
    "CancelReservation",
    "SetChargingProfile",
    "GetChargingProfiles",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "UpdateFirmware",
    "PublishFirmware",
    "UnpublishFirmware",
    "GetLog",
    "CustomerInformation",
    "SetVariableMonitoring",
    "ClearVariableMonitoring",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "GetMonitoringReport",
    "SetDisplayMessage",
    "GetDisplayMessages",
    "ClearDisplayMessage",
    "GetTransactionStatus",
    "CostUpdated",
    "DataTransfer",
]
# Issue 13 B: the certificate commands, but CertificateSigned (the CSMS sends it itself, in
# answer to a SignCertificate: services/registry/certificates.py).
CERTIFICATES_V201 = ["DeleteCertificate", "GetInstalledCertificateIds", "InstallCertificate"]
ISSUE_V201 += CERTIFICATES_V201
SENT_BY_THE_CSMS = {"CertificateSigned"}


def _api_routes() -> set[str]:
    from services.api.commands.router import router

    return {getattr(r, "path", "") for r in router.routes}


def test_every_listed_201_command_is_routed() -> None:
    assert len(ISSUE_V201) == 39
    assert sorted(COMMANDS_V201) == sorted(ISSUE_V201)
    assert sorted(COMMANDS_201) == sorted(ISSUE_V201)
    assert COMMANDS_BY_VERSION[OCPP201] == COMMANDS_V201
    assert COMMANDS_BY_VERSION[OCPP16] == COMMANDS_V16


@pytest.mark.parametrize("action", ISSUE_V201)
def test_201_command_has_route_model_and_gateway_entry(action: str) -> None:
    slug = kebab(action)
    assert BY_SLUG_201[slug].action == action
    assert f"/chargepoints/{{chargepoint_id}}/commands/{slug}" in _api_routes()
    assert action in VERSIONS[OCPP201].downstream
    # The shared typed model of the action exists (the effects parse with it).
    assert ocpp.request_model(OCPP201, action).__name__ == f"{action}Request"


@pytest.mark.parametrize("action", COMMANDS_V16)
def test_16_command_keeps_its_route(action: str) -> None:
    assert f"/chargepoints/{{chargepoint_id}}/commands/{kebab(action)}" in _api_routes()
    assert BY_SLUG[kebab(action)].action == action


def test_certificate_signed_is_not_routed() -> None:
    slugs = {kebab(a) for a in SENT_BY_THE_CSMS}
    assert not slugs & set(BY_SLUG_201)
    assert not slugs & set(BY_SLUG)


@pytest.mark.parametrize(
    ("action", "version", "expected"),
    [
        ("RemoteStartTransaction", OCPP201, "RequestStartTransaction"),
        ("RemoteStopTransaction", OCPP201, "RequestStopTransaction"),
        ("ChangeConfiguration", OCPP201, "SetVariables"),
        ("GetConfiguration", OCPP201, "GetVariables"),
        ("GetDiagnostics", OCPP201, "GetLog"),
        ("Reset", OCPP201, "Reset"),
        ("RequestStartTransaction", OCPP16, "RemoteStartTransaction"),
        ("SetVariables", OCPP16, "ChangeConfiguration"),
        ("GetLog", OCPP16, "GetDiagnostics"),
        ("GetBaseReport", OCPP16, None),
        ("CostUpdated", OCPP16, None),
    ],
)
def test_equivalents(action: str, version: str, expected: str | None) -> None:
    assert equivalent(action, version) == expected


def test_every_16_command_has_a_201_equivalent_or_is_named() -> None:
    missing = {a for a in COMMANDS_V16 if equivalent(a, OCPP201) is None}
    assert missing == set()


def _payload(action: str, body: BaseModel) -> dict[str, Any]:
    return COMMANDS_201[action].payload(body)


@pytest.mark.parametrize("action", ISSUE_V201)
def test_201_model_round_trips_schema_examples(action: str) -> None:
    schema = load_schema(action, version=OCPP201)
    validate = fastjsonschema.compile(schema, use_formats=True)
    model = COMMANDS_201[action].request
    for payload in (example201(schema), minimal201(schema)):
        body = model.model_validate(to_snake(payload, OCPP201))
        sent = _payload(action, body)
        assert sent == payload
        validate(sent)
        # Checked against the shared typed models too.
        ocpp.parse_request(OCPP201, action, sent)


@pytest.mark.parametrize("action", ISSUE_V201)
def test_201_model_refuses_unknown_fields_and_custom_data(action: str) -> None:
    body = to_snake(minimal201(load_schema(action, version=OCPP201)), OCPP201)
    model = COMMANDS_201[action].request
    with pytest.raises(ValidationError):
        model.model_validate({**body, "not_a_field": 1})
    with pytest.raises(ValidationError):
        model.model_validate({**body, "custom_data": {"vendor_id": "v"}})


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("Reset", {"type": "Hard"}),  # a 1.6 value
        ("Reset", {"type": "Immediate", "evse_id": "1"}),
        ("RequestStartTransaction", {"id_token": {"id_token": "A"}, "remote_start_id": 1}),
        (
            "RequestStartTransaction",
            {"id_token": {"id_token": "A" * 37, "type": "Central"}, "remote_start_id": 1},
        ),
        ("ChangeAvailability", {"operational_status": "Operative", "evse": {"connector_id": 1}}),
        ("TriggerMessage", {"requested_message": "DiagnosticsStatusNotification"}),
        ("GetVariables", {"get_variable_data": []}),  # minItems 1
        ("DataTransfer", {"vendor_id": "v" * 256}),
    ],
)
def test_201_model_refuses_what_the_schema_refuses(action: str, body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        COMMANDS_201[action].request.model_validate(body)


def test_201_data_transfer_data_is_sent_verbatim() -> None:
    spec = COMMANDS_201["DataTransfer"]
    body = spec.request.model_validate({"vendor_id": "V", "data": {"someKey": [1, {"a_b": 2}]}})
    assert spec.payload(body) == {"vendorId": "V", "data": {"someKey": [1, {"a_b": 2}]}}
    answer = to_snake({"status": "Accepted", "data": {"someKey": 1}}, OCPP201)
    assert answer == {"status": "Accepted", "data": {"someKey": 1}}


def test_201_optional_body_commands() -> None:
    optional = {a for a, spec in COMMANDS_201.items() if not spec.body_required}
    assert optional == {
        "ClearCache",
        "ClearChargingProfile",
        "GetLocalListVersion",
        "GetTransactionStatus",
        "GetInstalledCertificateIds",
    }


def test_specs_by_version() -> None:
    assert set(SPECS) == {OCPP16, OCPP201}
    assert SPECS[OCPP201]["Reset"].request.__name__ == "ResetRequestV201"
    assert SPECS[OCPP16]["Reset"].request.__name__ == "ResetRequest"
