"""Request and response models of every command, generated from the 1.6 and 2.0.1 JSON schemas.

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

OCPP 2.0.1 commands (`COMMANDS_V201`) are built the same way from `ocpp/v201/schemas/
<Action>Request.json`, with three differences: definitions (`$ref`) become shared nested
models named after them (`IdTokenType`, `ChargingProfileType`); `customData` (vendor
extensions) is left out of the API bodies; each field carries its camelCase name as
serialization alias, so `model_dump(by_alias=True)` is the OCPP payload. Top-level models are
suffixed `V201` (`ResetRequestV201`) where 1.6 has the same name. Enums are the
`ocpp.v201.enums` class named as the definition (`ResetEnumType`) when its values match.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from typing import Annotated, Any, Literal

import orjson
from ocpp.v16 import enums as v16_enums
from ocpp.v201 import enums as v201_enums
from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from services.api.common import INT32_MAX, INT32_MIN, ApiModel, SafeStr, UtcDateTime
from services.api.errors import ErrorBody
from shared.commands import (
    COMMANDS_V16,
    COMMANDS_V201,
    camel_to_snake,
    kebab,
    to_camel,
)
from shared.ocpp import OCPP16, OCPP201

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


def _enum_classes(module: Any) -> list[type[Enum]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Enum) and obj.__module__ == module.__name__
    ]


_ENUM_CLASSES: list[type[Enum]] = _enum_classes(v16_enums)
_ENUM_CLASSES_V201: list[type[Enum]] = _enum_classes(v201_enums)
SKIPPED_PROPERTIES_V201 = frozenset({"customData"})
"""2.0.1 properties left out of the API bodies (vendor extensions)."""


class CommandModel(ApiModel):
    """Base of command bodies: unknown fields refused; strings sent verbatim (not stripped)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class CommandResponseModel(BaseModel):
    """Base of documented command responses (a charge point may add vendor fields)."""

    model_config = ConfigDict(extra="allow")


def load_schema(action: str, *, response: bool = False, version: str = OCPP16) -> dict[str, Any]:
    """The `ocpp` package's JSON schema of a command's request or response."""
    if version == OCPP201:
        name = f"{action}{'Response' if response else 'Request'}.json"
        folder = "v201"
    else:
        name = f"{action}{'Response' if response else ''}.json"
        folder = "v16"
    data = resources.files("ocpp").joinpath(folder, "schemas", name).read_bytes()
    schema: dict[str, Any] = orjson.loads(data)
    return schema


def _absent() -> None:
    """Default of an optional field: absent (dropped by `model_dump(exclude_none=True)`)."""
    return None


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


class _Builder:
    """Turns JSON schemas into pydantic models; equal sub-schemas share one model."""

    def __init__(
        self,
        base: type[BaseModel],
        *,
        bounded_ints: bool,
        version: str = OCPP16,
        names: set[str] | None = None,
        aliases: bool = False,
    ) -> None:
        self.base = base
        self.bounded_ints = bounded_ints
        self.version = version
        self.label = "1.6" if version == OCPP16 else "2.0.1"
        self.enum_classes = _ENUM_CLASSES if version == OCPP16 else _ENUM_CLASSES_V201
        self.skipped = frozenset() if version == OCPP16 else SKIPPED_PROPERTIES_V201
        self.aliases = aliases
        self.models: dict[bytes, type[BaseModel]] = {}
        self.names: set[str] = set() if names is None else names
        self.definitions: dict[str, Any] = {}

    def top(self, name: str, schema: dict[str, Any], doc: str) -> type[BaseModel]:
        """The model of one message schema (its `definitions` resolve its `$ref`s)."""
        self.definitions = schema.get("definitions", {})
        return self.model(name, schema, name, doc)

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
            if prop in self.skipped:
                continue
            annotation = self.annotation(prop, sub, f"{path}.{prop}")
            alias = {"serialization_alias": prop} if self.aliases else {}
            if prop in required:
                fields[camel_to_snake(prop)] = (annotation, Field(..., **alias))
            else:
                # Absent, not null: OCPP has no nulls (an explicit null is refused). A factory,
                # so the JSON schema shows no `default: null` the type does not allow.
                fields[camel_to_snake(prop)] = (
                    annotation,
                    Field(default_factory=_absent, **alias),
                )
        unique = name
        counter = 2
        while unique in self.names:
            unique = f"{name}{counter}"
            counter += 1
        self.names.add(unique)
        model = create_model(unique, __base__=self.base, __module__=__name__, **fields)
        model.__doc__ = (
            doc
            or schema.get("description", "").strip().replace("\r", "")
            or (f"OCPP {self.label} {name} (keys in snake_case).")
        )
        self.models.setdefault(key, model)
        return model

    def annotation(self, prop: str, schema: dict[str, Any], path: str) -> Any:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            target = self.definitions[name]
            if "enum" in target:
                return self.enum(target["enum"], path, name)
            return self.model(name, target, path)
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

    def enum(self, values: list[str], path: str, definition: str | None = None) -> Any:
        wanted = set(values)
        matches = {c.__name__: c for c in self.enum_classes if {str(m.value) for m in c} == wanted}
        action = path.split(".", 1)[0].removesuffix("V201")
        action = action.removesuffix("Request").removesuffix("Response")
        for name in (definition, _PREFERRED_ENUMS.get(path), f"{action}Status"):
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
    version: str = OCPP16

    def payload(self, body: BaseModel) -> dict[str, Any]:
        """The OCPP payload (camelCase) of a request body."""
        if self.version == OCPP16:
            camel: dict[str, Any] = to_camel(body.model_dump(mode="json", exclude_none=True))
            return camel
        dumped: dict[str, Any] = body.model_dump(mode="json", exclude_none=True, by_alias=True)
        return dumped

    @property
    def body_required(self) -> bool:
        """False when every field is optional (the body may be omitted)."""
        return any(f.is_required() for f in self.request.model_fields.values())


def _build(names: set[str]) -> dict[str, CommandSpec]:
    # One name set for every command model (requests first), so no two are named alike in
    # the OpenAPI document.
    requests = _Builder(CommandModel, bounded_ints=True, names=names)
    responses = _Builder(CommandResponseModel, bounded_ints=False, names=names)
    built = {
        action: requests.top(
            f"{action}Request",
            load_schema(action),
            f"The OCPP 1.6 {action}.req payload, keys in snake_case.",
        )
        for action in COMMANDS_V16
    }
    specs: dict[str, CommandSpec] = {}
    for action in COMMANDS_V16:
        response = responses.top(
            f"{action}Response",
            load_schema(action, response=True),
            f"The charge point's {action}.conf payload, keys in snake_case.",
        )
        specs[action] = CommandSpec(action, kebab(action), built[action], response)
    return specs


def _build_v201(names: set[str]) -> dict[str, CommandSpec]:
    requests = _Builder(CommandModel, bounded_ints=True, version=OCPP201, names=names, aliases=True)
    responses = _Builder(CommandResponseModel, bounded_ints=False, version=OCPP201, names=names)

    def suffix(action: str) -> str:
        return "V201" if action in COMMANDS_V16 else ""

    built = {
        action: requests.top(
            f"{action}Request{suffix(action)}",
            load_schema(action, version=OCPP201),
            f"The OCPP 2.0.1 {action}Request payload, keys in snake_case.",
        )
        for action in COMMANDS_V201
    }
    specs: dict[str, CommandSpec] = {}
    for action in COMMANDS_V201:
        response = responses.top(
            f"{action}Response{suffix(action)}",
            load_schema(action, response=True, version=OCPP201),
            f"The charging station's {action}Response payload, keys in snake_case.",
        )
        specs[action] = CommandSpec(action, kebab(action), built[action], response, OCPP201)
    return specs


_NAMES: set[str] = set()
COMMANDS: dict[str, CommandSpec] = _build(_NAMES)
"""Every 1.6 command by action."""

BY_SLUG: dict[str, CommandSpec] = {spec.slug: spec for spec in COMMANDS.values()}
"""Every 1.6 command by its kebab-case REST path segment."""

COMMANDS_201: dict[str, CommandSpec] = _build_v201(_NAMES)
"""Every 2.0.1 command by action."""

BY_SLUG_201: dict[str, CommandSpec] = {spec.slug: spec for spec in COMMANDS_201.values()}
"""Every 2.0.1 command by its kebab-case REST path segment."""

SPECS: dict[str, dict[str, CommandSpec]] = {OCPP16: COMMANDS, OCPP201: COMMANDS_201}
"""Version -> action -> command (the API's routing table)."""

SLUGS: dict[str, dict[str, CommandSpec]] = {OCPP16: BY_SLUG, OCPP201: BY_SLUG_201}
"""Version -> REST path segment -> command."""


def request_model(action: str, version: str = OCPP16) -> type[BaseModel]:
    """The request body model of an action."""
    return SPECS[version][action].request


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
