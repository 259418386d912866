"""Request and response models of every OCPP 1.6 command, generated from the 1.6 JSON schemas.

The `ocpp` package's schemas are the source of truth: each command's request body is a
pydantic model built at import time from `ocpp/v16/schemas/<Action>.json`, with the property
names in snake_case (`csChargingProfiles` -> `cs_charging_profiles`) and the schema's rules:
required / optional, JSON types (strict: `"1"` is not an integer), `maxLength`, `multipleOf`,
`enum` (the `ocpp.v16.enums` class with exactly that value set, else a Literal), `date-time`,
nested objects (shared when two commands use the same structure, e.g. `ChargingProfile`) and
`additionalProperties: false` (unknown fields are refused). Integers are also bounded to
32 bits (what charge points and the database hold).

Response models are built the same way for the OpenAPI document only: the API answers with
the charge point's payload as the gateway validated it, keys in snake_case.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from typing import Annotated, Any, Literal

import orjson
from ocpp.v16 import enums as v16_enums
from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from services.api.common import INT32_MAX, INT32_MIN, ApiModel, SafeStr, UtcDateTime
from services.api.errors import ErrorBody
from shared.commands import COMMANDS_V16, camel_to_snake, kebab

URI_PATTERN = r"^\w+:(\/?\/?)[^\s]+$"
"""JSON schema `format: uri` as fastjsonschema checks it."""

# Names of nested models, after the OCPP 1.6 specification's type names.
_NESTED_NAMES: dict[str, str] = {
    "chargingProfile": "ChargingProfile",
    "csChargingProfiles": "ChargingProfile",
    "chargingSchedule": "ChargingSchedule",
    "chargingSchedulePeriod": "ChargingSchedulePeriod",
    "localAuthorizationList": "AuthorizationData",
    "idTagInfo": "IdTagInfo",
    "configurationKey": "KeyValue",
}

# Where several enums have the same values (Accepted/Rejected), the one the spec names.
_PREFERRED_ENUMS: dict[str, str] = {
    "RemoteStartTransactionResponse.status": "RemoteStartStopStatus",
    "RemoteStopTransactionResponse.status": "RemoteStartStopStatus",
}

_ENUM_CLASSES: list[type[Enum]] = [
    obj
    for obj in vars(v16_enums).values()
    if inspect.isclass(obj) and issubclass(obj, Enum) and obj.__module__ == v16_enums.__name__
]


class CommandModel(ApiModel):
    """Base of command bodies: unknown fields refused; strings sent verbatim (not stripped)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class CommandResponseModel(BaseModel):
    """Base of documented command responses (a charge point may add vendor fields)."""

    model_config = ConfigDict(extra="allow")


def load_schema(action: str, *, response: bool = False) -> dict[str, Any]:
    """The `ocpp` package's 1.6 JSON schema of a command's request or response."""
    name = f"{action}{'Response' if response else ''}.json"
    data = resources.files("ocpp").joinpath("v16", "schemas", name).read_bytes()
    schema: dict[str, Any] = orjson.loads(data)
    return schema


def _absent() -> None:
    """Default of an optional field: absent (dropped by `model_dump(exclude_none=True)`)."""
    return None


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


class _Builder:
    """Turns JSON schemas into pydantic models; equal sub-schemas share one model."""

    def __init__(self, base: type[BaseModel], *, bounded_ints: bool) -> None:
        self.base = base
        self.bounded_ints = bounded_ints
        self.models: dict[bytes, type[BaseModel]] = {}
        self.names: set[str] = set()

    def model(
        self, name: str, schema: dict[str, Any], path: str, doc: str | None = None
    ) -> type[BaseModel]:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        existing = self.models.get(key)
        if existing is not None and path.count(".") > 0:
            return existing
        required = set(schema.get("required", ()))
        fields: dict[str, Any] = {}
        for prop, sub in schema.get("properties", {}).items():
            annotation = self.annotation(prop, sub, f"{path}.{prop}")
            if prop in required:
                fields[camel_to_snake(prop)] = (annotation, ...)
            else:
                # Absent, not null: OCPP has no nulls (an explicit null is refused). A factory,
                # so the JSON schema shows no `default: null` the type does not allow.
                fields[camel_to_snake(prop)] = (annotation, Field(default_factory=_absent))
        unique = name
        counter = 2
        while unique in self.names:
            unique = f"{name}{counter}"
            counter += 1
        self.names.add(unique)
        model = create_model(unique, __base__=self.base, __module__=__name__, **fields)
        model.__doc__ = doc or f"OCPP 1.6 {name} (keys in snake_case)."
        self.models.setdefault(key, model)
        return model

    def annotation(self, prop: str, schema: dict[str, Any], path: str) -> Any:
        kind = schema.get("type")
        if "enum" in schema:
            return self.enum(schema["enum"], path)
        if kind == "object":
            return self.model(_NESTED_NAMES.get(prop, _pascal(prop)), schema, path)
        if kind == "array":
            item = self.annotation(prop, schema.get("items", {}), f"{path}[]")
            constraints = {}
            if "minItems" in schema:
                constraints["min_length"] = schema["minItems"]
            if "maxItems" in schema:
                constraints["max_length"] = schema["maxItems"]
            return Annotated[list[item], Field(**constraints)]  # type: ignore[valid-type]
        if kind == "string" and schema.get("format") == "date-time":
            return UtcDateTime
        if kind == "string" and schema.get("format") == "uri":
            # The check the gateway's validator (fastjsonschema, draft 4) applies.
            return Annotated[
                SafeStr, Strict(), Field(pattern=URI_PATTERN, json_schema_extra={"format": "uri"})
            ]
        if kind == "string":
            return Annotated[SafeStr, Strict(), Field(max_length=schema.get("maxLength"))]
        if kind == "integer":
            if self.bounded_ints:
                return Annotated[int, Strict(), Field(ge=INT32_MIN, le=INT32_MAX)]
            return Annotated[int, Strict()]
        if kind == "number":
            return Annotated[float, Strict(), Field(multiple_of=schema.get("multipleOf"))]
        if kind == "boolean":
            return Annotated[bool, Strict()]
        return Any

    def enum(self, values: list[str], path: str) -> Any:
        wanted = set(values)
        matches = {c.__name__: c for c in _ENUM_CLASSES if {str(m.value) for m in c} == wanted}
        action = path.split(".", 1)[0].removesuffix("Request").removesuffix("Response")
        for name in (_PREFERRED_ENUMS.get(path), f"{action}Status"):
            if name in matches:
                return matches[name]
        if len(matches) == 1:
            return next(iter(matches.values()))
        return Literal[tuple(values)]


@dataclass(frozen=True)
class CommandSpec:
    """One command: its OCPP action, REST path segment, request and response models."""

    action: str
    slug: str
    request: type[BaseModel]
    response: type[BaseModel]

    @property
    def body_required(self) -> bool:
        """False when every field is optional (the body may be omitted)."""
        return any(f.is_required() for f in self.request.model_fields.values())


def _build() -> dict[str, CommandSpec]:
    requests = _Builder(CommandModel, bounded_ints=True)
    responses = _Builder(CommandResponseModel, bounded_ints=False)
    specs: dict[str, CommandSpec] = {}
    for action in COMMANDS_V16:
        request = requests.model(
            f"{action}Request",
            load_schema(action),
            f"{action}Request",
            f"The OCPP 1.6 {action}.req payload, keys in snake_case.",
        )
        response = responses.model(
            f"{action}Response",
            load_schema(action, response=True),
            f"{action}Response",
            f"The charge point's {action}.conf payload, keys in snake_case.",
        )
        specs[action] = CommandSpec(action, kebab(action), request, response)
    return specs


COMMANDS: dict[str, CommandSpec] = _build()
"""Every 1.6 command by action."""

BY_SLUG: dict[str, CommandSpec] = {spec.slug: spec for spec in COMMANDS.values()}
"""Every 1.6 command by its kebab-case REST path segment."""


def request_model(action: str) -> type[BaseModel]:
    """The request body model of an action."""
    return COMMANDS[action].request


class CallErrorInfo(BaseModel):
    """The CALLERROR the charge point answered (OCPP-J 1.6 §4.2.3)."""

    code: str = Field(examples=["NotSupported"])
    description: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class CallErrorBody(ErrorBody):
    """The common error body plus the charge point's CALLERROR."""

    call_error: CallErrorInfo


class CallErrorResponse(BaseModel):
    """502: the charge point answered the command with a CALLERROR."""

    error: CallErrorBody
