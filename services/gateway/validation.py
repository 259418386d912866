"""Payload validation against the `ocpp` package's own JSON schemas, compiled by fastjsonschema.

A validator is compiled lazily, once per (version, action, direction), and cached: compiling
costs milliseconds, validating a MeterValues payload a few microseconds (the `ocpp` library's
jsonschema path costs ~500 µs).

Strictness: the schemas are applied as published (`additionalProperties: false`, maxLength of
CiString fields, enums, `date-time` with a timezone). A version may list per-action
relaxations (`ProtocolVersion.relaxations`) that edit a copy of the schema before it is
compiled; none are listed today, so an operator sees every deviation as a CALLERROR.

Error codes (OCPP-J 1.6 §4.2.3, 2.0.1 Part 4 §4.3):
- wrong JSON type -> TypeConstraintViolation;
- missing required field, unexpected field, too few/many items -> Occur(r)enceConstraintViolation;
- enum, maxLength, format, minimum, ... -> PropertyConstraintViolation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Final

import fastjsonschema
import orjson

from services.gateway.errors import ErrorKey
from services.gateway.versions.base import Direction, ProtocolVersion

Validator = Callable[[dict[str, Any]], Any]

_TYPE_RULES: Final = frozenset({"type"})
_OCCURRENCE_RULES: Final = frozenset(
    {
        "required",
        "additionalProperties",
        "additionalItems",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "dependencies",
        "propertyNames",
    }
)


class SchemaViolation(Exception):
    """A payload that does not match its schema; `key` is spelled per version by the caller."""

    def __init__(self, key: ErrorKey, description: str, details: dict[str, Any]) -> None:
        super().__init__(description)
        self.key = key
        self.description = description
        self.details = details


class UnknownSchema(Exception):
    """The version has no schema for this action and direction."""


_cache: dict[tuple[str, str, Direction], Validator] = {}


def _compile(version: ProtocolVersion, action: str, direction: Direction) -> Validator:
    try:
        text = version.schema_text(action, direction)
    except FileNotFoundError:
        raise UnknownSchema(f"{version.name} has no {direction} schema for {action}") from None
    schema = bound_integers(orjson.loads(text))
    relax = version.relaxations.get((action, direction))
    if relax is not None:
        schema = copy.deepcopy(schema)
        relax(schema)
    # use_default=False: a validator must never write defaults into the payload we forward.
    validator: Validator = fastjsonschema.compile(schema, use_default=False, use_formats=True)
    return validator


INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1


def bound_integers(node: Any) -> Any:
    """Give every `"type": "integer"` of a schema the 32-bit range OCPP defines.

    OCPP 1.6 and 2.0.1 define integer as 32 bit (31 bit resolution, 1 sign bit); the JSON
    schemas leave it unbounded. A larger number would pass them and then fail in Postgres
    (INTEGER columns), so it is refused here, with PropertyConstraintViolation and its path.
    """
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", INT32_MIN)
            node.setdefault("maximum", INT32_MAX)
        for value in node.values():
            bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            bound_integers(value)
    return node


def validator_for(version: ProtocolVersion, action: str, direction: Direction) -> Validator:
    """The compiled validator of an action's request or response (compiled once, cached)."""
    key = (version.name, action, direction)
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = _compile(version, action, direction)
    return found


def classify_rule(rule: str | None) -> ErrorKey:
    """The error key of a failed JSON-schema keyword."""
    if rule in _TYPE_RULES:
        return ErrorKey.TYPE_CONSTRAINT
    if rule in _OCCURRENCE_RULES:
        return ErrorKey.OCCURRENCE_CONSTRAINT
    return ErrorKey.PROPERTY_CONSTRAINT


def _path(exc: fastjsonschema.JsonSchemaValueException) -> str:
    parts = list(exc.path or ["data"])[1:]
    out = "payload"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) or str(part).isdigit() else f".{part}"
    return out


def validate(
    version: ProtocolVersion, action: str, direction: Direction, payload: dict[str, Any]
) -> None:
    """Check a payload; raise `SchemaViolation` (or `UnknownSchema`)."""
    check = validator_for(version, action, direction)
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        message = exc.message
        if message.startswith("data"):
            message = "payload" + message[len("data") :]
        path = _path(exc)
        raise SchemaViolation(
            classify_rule(exc.rule),
            message,
            {"path": path, "rule": exc.rule or ""},
        ) from None
