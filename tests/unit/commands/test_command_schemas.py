"""The generated request models mirror the 1.6 request schemas."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest
from pydantic import ValidationError

from services.api.commands.schemas import BY_SLUG, COMMANDS, load_schema
from shared.commands import COMMANDS_V16, to_camel, to_snake

from .examples import example201 as example
from .examples import minimal201 as minimal


def test_every_command_has_a_model() -> None:
    assert sorted(COMMANDS) == sorted(COMMANDS_V16)
    assert len(BY_SLUG) == 25
    assert BY_SLUG["remote-start-transaction"].action == "RemoteStartTransaction"


@pytest.mark.parametrize("action", COMMANDS_V16)
def test_model_accepts_schema_examples_and_dumps_them_back(action: str) -> None:
    schema = load_schema(action)
    validate = fastjsonschema.compile(schema, use_formats=True)
    model = COMMANDS[action].request
    for payload in (example(schema), minimal(schema)):
        body = model.model_validate(to_snake(payload))
        sent = to_camel(body.model_dump(mode="json", exclude_none=True))
        assert sent == payload
        validate(sent)


@pytest.mark.parametrize("action", COMMANDS_V16)
def test_model_refuses_unknown_fields(action: str) -> None:
    body = to_snake(minimal(load_schema(action)))
    with pytest.raises(ValidationError):
        COMMANDS[action].request.model_validate({**body, "not_a_field": 1})


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("Reset", {"type": "Warm"}),  # not in the enum
        ("Reset", {"type": None}),  # OCPP has no nulls
        ("Reset", {}),  # required
        ("UnlockConnector", {"connector_id": "1"}),  # strict integer
        ("UnlockConnector", {"connector_id": 1.0}),
        ("UnlockConnector", {"connector_id": 2**31}),  # 32 bits
        ("RemoteStartTransaction", {"id_tag": "x" * 21}),  # maxLength 20
        ("ChangeConfiguration", {"key": "k", "value": "x" * 501}),  # maxLength 500
        ("GetDiagnostics", {"location": "ftp://x", "start_time": "yesterday"}),
        (
            "SetChargingProfile",
            {
                "connector_id": 1,
                "cs_charging_profiles": {
                    "charging_profile_id": 1,
                    "stack_level": 0,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "charging_profile_kind": "Absolute",
                    "charging_schedule": {
                        "charging_rate_unit": "A",
                        "charging_schedule_period": [{"start_period": 0, "limit": 16.05}],
                    },
                },
            },
        ),  # multipleOf 0.1
        ("TriggerMessage", {"requested_message": "LogStatusNotification"}),  # not in 1.6 core
    ],
)
def test_model_refuses_what_the_schema_refuses(action: str, body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        COMMANDS[action].request.model_validate(body)


def test_optional_body_commands() -> None:
    optional = {a for a, spec in COMMANDS.items() if not spec.body_required}
    assert optional == {
        "ClearCache",
        "ClearChargingProfile",
        "GetConfiguration",
        "GetLocalListVersion",
    }
    assert COMMANDS["ClearCache"].request().model_dump(exclude_none=True) == {}


def test_datetimes_are_sent_as_utc() -> None:
    body = COMMANDS["ReserveNow"].request.model_validate(
        {
            "connector_id": 1,
            "expiry_date": "2030-01-01T02:00:00+02:00",
            "id_tag": "T",
            "reservation_id": 5,
        }
    )
    sent = to_camel(body.model_dump(mode="json", exclude_none=True))
    assert sent["expiryDate"] == "2030-01-01T00:00:00+00:00"
    fastjsonschema.compile(load_schema("ReserveNow"), use_formats=True)(sent)


def test_shared_nested_models() -> None:
    start = COMMANDS["RemoteStartTransaction"].request.model_fields["charging_profile"]
    profile = COMMANDS["SetChargingProfile"].request.model_fields["cs_charging_profiles"]
    assert start.annotation is profile.annotation
    assert profile.annotation is not None and profile.annotation.__name__ == "ChargingProfile"
