"""The OCPP value types of the generated models: date-times, decimals, 32-bit integers.

The generated modules (`shared/ocpp/v16`, `shared/ocpp/v201`) import `AwareDatetime`,
`Decimal` and `StrictInt` from here instead of pydantic's (`--import-overrides` in
`generate.py`), so one definition decides how every OCPP payload is read and written:

- **date-time**: an RFC 3339 string exactly as the gateway's schema check admits it
  (`T`/`t`, `Z`/`z`, `+hh:mm` or `+hhmm`, any number of fractional digits), parsed to a
  timezone-aware `datetime` in **UTC**. Fractional digits beyond microseconds are truncated
  (never rounded into the next second). A leap second (`23:59:60`) is read as the first
  instant of the next minute (POSIX time has none). A date-time **without offset is
  refused** (PropertyConstraintViolation): RFC 3339 requires one, OCPP says UTC, and the
  gateway refuses it too, so guessing a zone here would only hide a gateway relaxation.
  Written as `YYYY-MM-DDTHH:MM:SS.sssZ` (`format_datetime`).
- **number** (`Decimal`): a JSON number (int or float, never a string or a bool) read
  through its shortest repr, so the 47.06 a charge point sent stays `Decimal("47.06")`
  (`Decimal(47.06)` would be 47.0599999999999951683...). Written back as a JSON number.
- **integer** (`StrictInt`): an int (not a bool, not a numeric string), or a float without
  fraction (JSON Schema draft-06, which the 2.0.1 schemas use, counts `5.0` as an integer),
  bounded to 32 bits as OCPP defines integers (the gateway bounds them the same way).
- **null**: OCPP has no null; an optional field is absent. `parse_payload` refuses a null
  anywhere in a payload (TypeConstraintViolation), as the gateway's schema check does;
  models built in code may pass `None` for "absent" (`dump_payload` leaves it out).
"""

from __future__ import annotations

import decimal
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

# Date-times as the gateway admits them (fastjsonschema's `date-time` format); the calendar
# check (30 February) is left to `datetime` itself.
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d\d-\d\d[Tt](?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|(60))(?:\.\d+)?"
    r"(?:[Zz]|[+-](?:[01]\d|2[0-3]):?[0-5]\d)"
)
_SECONDS: Final = slice(17, 19)  # `YYYY-MM-DDTHH:MM:SS`


def _date_time_error(value: object) -> PydanticCustomError:
    return PydanticCustomError(
        "ocpp_date_time",
        "{value} is not an RFC 3339 date-time with a time zone offset",
        {"value": repr(value)[:64]},
    )


def parse_datetime(value: str) -> datetime:
    """An OCPP date-time string as a timezone-aware UTC `datetime`; ValueError otherwise."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        raise ValueError(f"{value[:64]!r} is not an RFC 3339 date-time with a time zone offset")
    # The form is checked: Python 3.11's parser reads the rest (any fraction length,
    # truncated to microseconds; `Z`, `+hh:mm`, `+hhmm`), only upper case.
    text = value.upper()
    leap = match.group(1) is not None
    if leap:
        text = f"{text[: _SECONDS.start]}59{text[_SECONDS.stop :]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if leap:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def as_utc(moment: datetime) -> datetime:
    """An aware `datetime` in UTC; ValueError for a naive one (its zone is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime has no time zone: OCPP date-times are UTC")
    if moment.tzinfo is UTC:
        return moment
    return moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """An OCPP date-time: UTC, millisecond precision, `Z`: `2024-05-01T12:00:00.000Z`."""
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _validate_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            raise _date_time_error(value) from None
    if isinstance(value, datetime):
        try:
            return as_utc(value)
        except ValueError:
            raise _date_time_error(value) from None
    raise PydanticCustomError("ocpp_date_time_type", "a date-time string is required")


def _to_decimal(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "a finite number is required")
        # repr: the shortest text that reads back as this float, i.e. what was sent.
        return decimal.Decimal(repr(value))
    if kind is int:
        return value
    if kind is decimal.Decimal:
        if not value.is_finite():
            raise PydanticCustomError("finite_number", "a finite number is required")
        return value
    raise PydanticCustomError("ocpp_number_type", "a JSON number is required")


def _decimal_to_json(value: decimal.Decimal) -> int | float:
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _to_int(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return value
    if kind is float and value.is_integer():
        return int(value)
    raise PydanticCustomError("ocpp_integer_type", "a JSON integer is required")


AwareDatetime = Annotated[
    datetime,
    PlainValidator(_validate_datetime, json_schema_input_type=str),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An OCPP date-time: parsed to aware UTC, written `YYYY-MM-DDTHH:MM:SS.sssZ`."""

Decimal = Annotated[
    decimal.Decimal,
    BeforeValidator(_to_decimal),
    PlainSerializer(_decimal_to_json, return_type=float, when_used="json"),
    WithJsonSchema({"type": "number"}),
]
"""An OCPP number (JSON `number`): exact `decimal.Decimal`, written as a JSON number."""

StrictInt = Annotated[
    int,
    BeforeValidator(_to_int),
    Field(ge=INT32_MIN, le=INT32_MAX),
]
"""An OCPP integer: 32 bit, no bool, no numeric string."""


class OcppModel(BaseModel):
    """Base of every generated OCPP payload model.

    Fields are snake_case, their aliases the OCPP camelCase names; payloads are read by
    alias, models built in code by field name. Unknown fields are ignored: the gateway
    validated the payload against the schema first and is the one place that decides what
    to admit (its per-action relaxations); a payload it admitted must parse here.
    Frozen: a handler reads its request, it does not edit it.
    """

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )


__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "AwareDatetime",
    "Decimal",
    "OcppModel",
    "StrictInt",
    "as_utc",
    "format_datetime",
    "parse_datetime",
]
