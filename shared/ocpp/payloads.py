"""One entry point from an envelope's payload to a typed model and back.

    model = request_model("ocpp1.6", "MeterValues")          # MeterValuesRequest
    req = parse_request("ocpp1.6", "MeterValues", env.payload)  # or RequestInvalid
    env.result(dump_response(BootNotificationResponse(...)))  # camelCase, OCPP date-times

Models are looked up in the generated index (`shared/ocpp/v16/__init__.py`, ...) and their
module imported on first use, so a service pays only for the actions it handles. An action
the index does not list raises `UnknownAction` (never an import of a name a charge point
chose).
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any, Final, Literal, TypeVar

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.ocpp.errors import (
    PayloadInvalid,
    RequestInvalid,
    ResponseInvalid,
    UnknownAction,
    Violation,
)
from shared.ocpp.types import OcppModel
from shared.ocpp.versions import PACKAGES

M = TypeVar("M", bound=OcppModel)
Direction = Literal["request", "response"]

# pydantic error types -> OCPP violation (anything else is a PropertyConstraintViolation:
# enum, string_too_long, greater_than_equal, multiple_of, ocpp_date_time, ...), as the
# gateway classifies JSON-schema keywords (type / required, minItems / the rest).
_TYPE_ERRORS: Final = frozenset(
    {
        "ocpp_number_type",
        "ocpp_integer_type",
        "ocpp_date_time_type",
        "enum_type",
        "model_type",
        "model_attributes_type",
        "dataclass_type",
        "is_instance_of",
    }
)
_OCCURRENCE_ERRORS: Final = frozenset({"missing", "too_short", "too_long", "extra_forbidden"})
_VALUE_ERRORS: Final = frozenset({"enum", "literal_error", "string_pattern_mismatch"})


def request_model(version: str, action: str) -> type[OcppModel]:
    """The request model of an action (`MeterValuesRequest`); `UnknownAction` if none."""
    return _model(version, action, "request")


def response_model(version: str, action: str) -> type[OcppModel]:
    """The response model of an action (`MeterValuesResponse`); `UnknownAction` if none."""
    return _model(version, action, "response")


@cache
def _model(version: str, action: str, direction: Direction) -> type[OcppModel]:
    package = PACKAGES.get(version)
    if package is None:
        raise UnknownAction(version, action, direction)
    index = import_module(f"shared.ocpp.{package}")
    entry = (index.REQUESTS if direction == "request" else index.RESPONSES).get(action)
    if entry is None:
        raise UnknownAction(version, action, direction)
    module_name, class_name = entry
    model = getattr(import_module(f"shared.ocpp.{package}.{module_name}"), class_name)
    if not (isinstance(model, type) and issubclass(model, OcppModel)):
        raise TypeError(f"shared.ocpp.{package}.{module_name}.{class_name} is not a model")
    return model


def parse_request(version: str, action: str, payload: Any) -> OcppModel:
    """A CALL payload as its typed request; raises `RequestInvalid` or `UnknownAction`."""
    return parse_payload(request_model(version, action), payload, version=version, action=action)


def parse_response(version: str, action: str, payload: Any) -> OcppModel:
    """A CALLRESULT payload as its typed response; `ResponseInvalid` or `UnknownAction`."""
    model = response_model(version, action)
    return parse_payload(model, payload, version=version, action=action, error=ResponseInvalid)


def parse_payload(
    model: type[M],
    payload: Any,
    *,
    version: str,
    action: str | None = None,
    error: type[PayloadInvalid] = RequestInvalid,
) -> M:
    """`payload` (the dict an Envelope holds, camelCase) as `model`; raises `error`.

    Strict as the gateway's schema check: JSON types are not coerced (`"1"` is no integer),
    a null is refused, unknown fields are ignored (the gateway decided to admit them).
    `action` names the message in the error (default: the model's name).
    """
    action = action or model.__name__
    if type(payload) is not dict:
        raise error(
            version=version,
            action=action,
            violation=Violation.FORMAT,
            description="the payload is not a JSON object",
            details={"path": "payload", "rule": "type"},
        )
    null = null_path(payload)
    if null is not None:
        raise error(
            version=version,
            action=action,
            violation=Violation.TYPE,
            description=f"{null}: null is not an OCPP value (an optional field is left out)",
            details={"path": null, "rule": "type"},
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise error(
            version=version,
            action=action,
            violation=violation_of(first["type"], first.get("input")),
            description=_describe(first),
            details={"path": _path(first), "rule": first["type"], "errors": exc.error_count()},
        ) from None


def null_path(payload: dict[str, Any]) -> str | None:
    """The path of the first null in a payload (`payload.meterValue[0].unit`), or None."""
    try:
        if b"null" not in orjson.dumps(payload):
            return None  # the common case, decided in C
    except TypeError:
        pass  # not plain JSON data (a payload built in code): walk it
    return _find_null(payload, "payload")


def _find_null(node: Any, path: str) -> str | None:
    if node is None:
        return path
    if type(node) is dict:
        for key, value in node.items():
            found = _find_null(value, f"{path}.{key}")
            if found is not None:
                return found
    elif type(node) is list:
        for i, value in enumerate(node):
            found = _find_null(value, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def violation_of(error_type: str, value: Any = None) -> Violation:
    """The OCPP violation a pydantic error type (for the offending `value`) stands for."""
    if error_type in _OCCURRENCE_ERRORS:
        return Violation.OCCURRENCE
    if error_type in _VALUE_ERRORS and not isinstance(value, str):
        return Violation.TYPE  # 5 for an enum or a pattern: the schema's `type` fails first
    if error_type in _TYPE_ERRORS or (
        error_type.endswith("_type") and error_type != "ocpp_date_time"
    ):
        return Violation.TYPE
    return Violation.PROPERTY


def _path(error: ErrorDetails) -> str:
    out = "payload"
    for part in error["loc"]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe(error: ErrorDetails) -> str:
    return f"{_path(error)}: {error['msg']}"


def dump_payload(model: OcppModel) -> dict[str, Any]:
    """A model as an OCPP payload: camelCase, no unset or None fields, JSON types only
    (date-times `YYYY-MM-DDTHH:MM:SS.sssZ`, decimals as numbers, enums as their values)."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


def dump_response(model: OcppModel) -> dict[str, Any]:
    """The CALLRESULT payload of a response model (see `dump_payload`)."""
    return dump_payload(model)


def dump_request(model: OcppModel) -> dict[str, Any]:
    """The CALL payload of a request model, e.g. a command (see `dump_payload`)."""
    return dump_payload(model)
