"""snake_case <-> camelCase payload keys, derived from the 1.6 schemas' property names."""

from __future__ import annotations

import re
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.commands.schemas import load_schema
from shared.commands import (
    COMMANDS_V16,
    camel_to_snake,
    kebab,
    key_maps,
    schema_property_names,
    snake_to_camel,
    to_camel,
    to_snake,
)

from .examples import example201 as example
from .examples import minimal201 as minimal

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def keys(value: Any) -> list[str]:
    """Every dict key in a payload, recursively."""
    if isinstance(value, dict):
        return list(value) + [k for v in value.values() for k in keys(v)]
    if isinstance(value, list):
        return [k for item in value for k in keys(item)]
    return []


@pytest.mark.parametrize("action", COMMANDS_V16)
@pytest.mark.parametrize("response", [False, True], ids=["request", "response"])
def test_round_trip_on_every_command_schema(action: str, response: bool) -> None:
    schema = load_schema(action, response=response)
    for payload in (example(schema), minimal(schema)):
        fastjsonschema.compile(schema, use_formats=True)(payload)  # the example is valid
        snake = to_snake(payload)
        assert all(SNAKE.match(k) for k in keys(snake)), keys(snake)
        assert to_camel(snake) == payload


def test_odd_names_are_exact() -> None:
    assert to_snake({"csChargingProfiles": {"chargingProfileId": 1}}) == {
        "cs_charging_profiles": {"charging_profile_id": 1}
    }
    assert to_camel({"id_tag": "A", "connector_id": 1, "charging_profile": {}}) == {
        "idTag": "A",
        "connectorId": 1,
        "chargingProfile": {},
    }


def test_values_are_untouched() -> None:
    payload = {"data": "someKey_x", "configurationKey": [{"key": "HeartbeatInterval"}]}
    assert to_snake(payload) == {
        "data": "someKey_x",
        "configuration_key": [{"key": "HeartbeatInterval"}],
    }


def test_maps_are_a_bijection_over_every_schema_name() -> None:
    camel_to_snake_map, snake_to_camel_map = key_maps()
    names = schema_property_names()
    assert set(camel_to_snake_map) == names
    assert {snake_to_camel_map[s] for s in camel_to_snake_map.values()} == names
    assert "csChargingProfiles" in names and "idTag" in names


@given(st.from_regex(r"[a-z]{1,6}([A-Z][a-z0-9]{1,5}){0,4}", fullmatch=True))
def test_rule_round_trip(name: str) -> None:
    assert snake_to_camel(camel_to_snake(name)) == name


def test_kebab() -> None:
    assert kebab("RemoteStartTransaction") == "remote-start-transaction"
    assert kebab("Reset") == "reset"
    assert kebab("GetLocalListVersion") == "get-local-list-version"
