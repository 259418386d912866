"""Types shared by the resource schemas: UTC timestamps, bounded strings and integers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

INT32_MAX = 2_147_483_647
INT32_MIN = -2_147_483_648


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_only(value: Any) -> Any:
    """Refuse what pydantic would also take for a datetime: numbers and bare dates."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return value
    raise ValueError("must be an ISO 8601 date-time such as 2024-05-01T08:00:00Z")


def _to_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:00:00-05:00
        raise ValueError("date is out of range once converted to UTC") from exc


def _serialize_utc(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def check_storable(value: str) -> str:
    """Refuse text Postgres cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid unicode text") from exc
    return value


SafeStr = Annotated[str, AfterValidator(check_storable)]
"""A string that can be stored in (and compared with) Postgres text."""

UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_only),
    AfterValidator(_to_utc),
    PlainSerializer(_serialize_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""ISO 8601 in and out; out always as UTC with a `+00:00` offset."""

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
NonNegInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]


class ApiModel(BaseModel):
    """Base of request bodies: unknown fields are refused, strings are stripped.

    Python's JSON parser takes `NaN` and `Infinity`; no column or JSONB document can hold them.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Postgres text holds neither NUL characters nor lone surrogates."""
        if isinstance(value, str):
            check_storable(value)
        return value


class ReadModel(BaseModel):
    """Base of response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
