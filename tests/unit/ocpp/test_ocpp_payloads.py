"""Every OCPP 1.6 / 2.0.1 schema has a model; example payloads round-trip; errors per version."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from shared.ocpp import (
    OCPP16,
    OCPP201,
    RequestInvalid,
    ResponseInvalid,
    UnknownAction,
    dump_request,
    dump_response,
    parse_payload,
    parse_request,
    parse_response,
    request_model,
    response_model,
)
from shared.ocpp.v16.boot_notification_response import BootNotificationResponse
from shared.ocpp.v16.common import IdTagInfo, RegistrationStatus
from shared.ocpp.v16.meter_values_request import MeterValuesRequest, UnitOfMeasure
from shared.ocpp.v201.transaction_event_request import TransactionEventRequest

FOLDERS = {OCPP16: ("v16/schemas", ""), OCPP201: ("v201/schemas", "Request")}
DATE_TIME = "2024-05-01T12:00:00.123Z"


def schemas() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(version, action, direction, schema) of every schema the `ocpp` package ships."""
    for version, (folder, suffix) in FOLDERS.items():
        for entry in sorted(resources.files("ocpp").joinpath(folder).iterdir(), key=str):
            stem = entry.name.removesuffix(".json")
            if stem.endswith("Response"):
                action, direction = stem.removesuffix("Response"), "response"
            else:
                action, direction = stem.removesuffix(suffix), "request"
            yield version, action, direction, json.loads(entry.read_text(encoding="utf-8"))


SCHEMAS = list(schemas())
IDS = [f"{v}-{a}-{d}" for v, a, d, _ in SCHEMAS]


def example(schema: dict[str, Any], *, full: bool) -> Any:
    """An example-like payload of a schema: every property (full) or the required ones."""
    definitions = schema.get("definitions", {})

    def build(node: dict[str, Any], depth: int) -> Any:
        if "$ref" in node:
            return build(definitions[node["$ref"].rsplit("/", 1)[1]], depth)
        if "enum" in node:
            return node["enum"][-1 if full else 0]
        kind = node.get("type")
        if kind == "object":
            props = node.get("properties", {})
            required = set(node.get("required", ()))
            names = [n for n in props if (full and depth < 6) or n in required]
            out = {n: build(props[n], depth + 1) for n in names}
            if full and node is definitions.get("CustomDataType"):
                out["vendorSpecific"] = {"anything": [1, "two"]}  # extensible by design
            return out
        if kind == "array":
            return [build(node["items"], depth + 1) for _ in range(max(1, node.get("minItems", 1)))]
        if kind == "string":
            if node.get("format") == "date-time":
                return DATE_TIME
            if node.get("format") == "uri":
                return "https://example.com/a"
            return "abcdefgh"[: node.get("maxLength", 8)]
        if kind == "integer":
            return max(3, node.get("minimum", 3))
        if kind == "number":
            return 16.1 if "multipleOf" in node else 47.06
        if kind == "boolean":
            return full
        if kind is None:  # any JSON (2.0.1 DataTransfer `data`)
            return {"free": [1, "x", {"y": 2.5}]}
        raise AssertionError(f"no example for {node}")

    return build(schema, 0)


def parse(version: str, action: str, direction: str, payload: Any) -> Any:
    if direction == "request":
        return parse_request(version, action, payload)
    return parse_response(version, action, payload)


@pytest.mark.parametrize(("version", "action", "direction", "schema"), SCHEMAS, ids=IDS)
@pytest.mark.parametrize("full", [True, False], ids=["full", "required"])
def test_every_schema_example_round_trips(
    version: str, action: str, direction: str, schema: dict[str, Any], full: bool
) -> None:
    payload = example(schema, full=full)
    fastjsonschema.compile(schema, use_formats=True)(copy.deepcopy(payload))  # a valid one
    model = parse(version, action, direction, payload)
    dumped = dump_request(model) if direction == "request" else dump_response(model)
    assert dumped == payload
    assert json.loads(json.dumps(dumped)) == dumped  # JSON types only


def test_every_action_has_both_models() -> None:
    for version, action, direction, _ in SCHEMAS:
        model = request_model(version, action) if direction == "request" else None
        model = model or response_model(version, action)
        assert model.__name__ == f"{action}{direction.capitalize()}"


@pytest.mark.parametrize(
    ("version", "action"),
    [
        (OCPP16, "NoSuchAction"),
        (OCPP16, "TransactionEvent"),  # a 2.0.1 action
        (OCPP201, "StartTransaction"),  # a 1.6 action
        (OCPP16, "../../os"),
        (OCPP16, "common"),
        ("ocpp1.5", "Heartbeat"),
        ("", "Heartbeat"),
    ],
)
def test_unknown_actions_and_versions_have_no_model(version: str, action: str) -> None:
    with pytest.raises(UnknownAction):
        request_model(version, action)
    with pytest.raises(UnknownAction):
        parse_request(version, action, {})


METER_VALUES = {
    "connectorId": 1,
    "transactionId": 7,
    "meterValue": [
        {
            "timestamp": "2024-05-01T14:00:00.5+02:00",
            "sampledValue": [{"value": "47.06", "unit": "Wh"}],
        }
    ],
}


def broken(path: list[str | int], value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(METER_VALUES)
    node: Any = payload
    for part in path[:-1]:
        node = node[part]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "v16", "v201", "where"),
    [
        ([1], "FormationViolation", "FormatViolation", "payload"),
        ("x", "FormationViolation", "FormatViolation", "payload"),
        (
            broken(["connectorId"], KeyError),
            "OccurenceConstraintViolation",
            "OccurrenceConstraintViolation",
            "payload.connectorId",
        ),
        (
            broken(["meterValue"], []),
            "OccurenceConstraintViolation",
            "OccurrenceConstraintViolation",
            "payload.meterValue",
        ),
        (
            broken(["connectorId"], "1"),
            "TypeConstraintViolation",
            "TypeConstraintViolation",
            "payload.connectorId",
        ),
        (
            broken(["transactionId"], None),
            "TypeConstraintViolation",
            "TypeConstraintViolation",
            "payload.transactionId",
        ),
        (
            broken(["meterValue", 0, "sampledValue", 0, "value"], 47.06),
            "TypeConstraintViolation",
            "TypeConstraintViolation",
            "payload.meterValue[0].sampledValue[0].value",
        ),
        (
            broken(["meterValue", 0, "sampledValue", 0, "unit"], "parsec"),
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            "payload.meterValue[0].sampledValue[0].unit",
        ),
        (
            broken(["meterValue", 0, "timestamp"], "2024-05-01T12:00:00"),
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            "payload.meterValue[0].timestamp",
        ),
    ],
)
def test_invalid_payloads_get_the_versions_error_code(
    payload: Any, v16: str, v201: str, where: str
) -> None:
    for version, code in ((OCPP16, v16), (OCPP201, v201)):
        with pytest.raises(RequestInvalid) as caught:
            parse_payload(MeterValuesRequest, payload, version=version)
        assert caught.value.code == code
        assert caught.value.details["path"] == where
        assert caught.value.version == version


@pytest.mark.parametrize(
    "url", ["ftp://user:secret@Host.Example.COM", "https://example.com", "sftp://h/a%20b?x=1"]
)
def test_urls_are_kept_as_sent(url: str) -> None:
    req = parse_request(OCPP16, "GetDiagnostics", {"location": url})
    assert dump_request(req) == {"location": url}


@pytest.mark.parametrize(
    ("location", "code"),
    [("not a url", "PropertyConstraintViolation"), (5, "TypeConstraintViolation")],
)
def test_a_location_must_look_like_a_uri(location: object, code: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_request(OCPP16, "UpdateFirmware", {"location": location, "retrieveDate": DATE_TIME})
    assert caught.value.code == code
    assert caught.value.action == "UpdateFirmware"


@pytest.mark.parametrize(("unit", "code"), [("parsec", "Property"), (5, "Type")])
def test_an_enum_gets_a_property_or_type_violation(unit: object, code: str) -> None:
    payload = broken(["meterValue", 0, "sampledValue", 0, "unit"], unit)
    with pytest.raises(RequestInvalid) as caught:
        parse_request(OCPP16, "MeterValues", payload)
    assert caught.value.code == f"{code}ConstraintViolation"


def test_a_response_that_does_not_fit_is_a_response_error() -> None:
    with pytest.raises(ResponseInvalid) as caught:
        parse_response(OCPP16, "RemoteStartTransaction", {"status": "Maybe"})
    assert caught.value.code == "PropertyConstraintViolation"


def test_requests_are_typed_and_snake_case() -> None:
    req = parse_payload(MeterValuesRequest, METER_VALUES, version=OCPP16)
    assert req.connector_id == 1
    assert req.transaction_id == 7
    reading = req.meter_value[0]
    assert reading.timestamp == datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    assert reading.sampled_value[0].unit is UnitOfMeasure.wh
    assert reading.sampled_value[0].measurand is None  # absent: the handler applies defaults


def test_unknown_fields_are_ignored_and_customdata_kept() -> None:
    req = parse_payload(MeterValuesRequest, {**METER_VALUES, "vendorField": 1}, version=OCPP16)
    assert "vendorField" not in dump_request(req)
    event = {
        "eventType": "Started",
        "timestamp": "2024-05-01T12:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "t1", "unknown": True},
        "customData": {"vendorId": "acme", "battery": {"soh": 97}},
    }
    typed = parse_payload(TransactionEventRequest, event, version=OCPP201)
    dumped = dump_request(typed)
    assert dumped["customData"] == {"vendorId": "acme", "battery": {"soh": 97}}
    assert dumped["transactionInfo"] == {"transactionId": "t1"}


def test_responses_built_in_code_dump_as_ocpp_json() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, 987_654, tzinfo=UTC)
    boot = BootNotificationResponse(
        status=RegistrationStatus.accepted, current_time=now, interval=300
    )
    assert dump_response(boot) == {
        "status": "Accepted",
        "currentTime": "2024-05-01T12:00:00.987Z",
        "interval": 300,
    }
    # None means absent: left out, never sent as null.
    info = IdTagInfo(status="Accepted", expiry_date=None, parent_id_tag=None)
    assert dump_response(info) == {"status": "Accepted"}


def test_a_naive_datetime_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="date-time"):
        BootNotificationResponse(
            status=RegistrationStatus.accepted, current_time=datetime(2024, 5, 1), interval=1
        )
