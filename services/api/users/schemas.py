"""Users, "me" and profiles."""

from __future__ import annotations

import uuid
import zoneinfo
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from services.api.common import ApiModel, ReadModel, SafeStr, UtcDateTime

Role = Literal["admin", "operator", "driver"]
# ASCII addresses only: stored lowercase, and Python's and Postgres's lower() agree on ASCII.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=320, pattern=EMAIL_PATTERN),
]
Password = Annotated[SafeStr, Field(min_length=8, max_length=1024)]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """An IANA time zone name known to this system's tz database."""
    if name not in _zones():
        raise ValueError(f"unknown IANA time zone {name[:64]!r}")
    return name


TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(check_timezone),
    Field(examples=["Europe/Berlin", "UTC"]),
]


class UserCreate(ApiModel):
    """A new user (admins only)."""

    email: Email
    password: Password
    role: Role = "driver"
    is_active: bool = True


class UserUpdate(ApiModel):
    """Changes to a user (admins only); omitted fields stay as they are."""

    email: Email | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None


class MeUpdate(ApiModel):
    """Changes to one's own account; `current_password` confirms them."""

    current_password: Annotated[SafeStr, Field(min_length=1, max_length=1024)]
    email: Email | None = None
    password: Password | None = None


class UserRead(ReadModel):
    """A user as the API shows it (never the password hash)."""

    id: uuid.UUID
    email: str
    role: Role
    is_active: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime
    last_login_at: UtcDateTime | None = None


class ProfileUpdate(ApiModel):
    """Profile fields that are not the image."""

    timezone: TimeZoneName


class ProfileRead(ReadModel):
    """A user's profile; `image_url` serves the image back when one was uploaded."""

    user_id: uuid.UUID
    timezone: str
    image_url: str | None = None
