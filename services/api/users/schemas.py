"""Users, "me" and profiles."""

from __future__ import annotations

import uuid
import zoneinfo
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from services.api.common import ApiModel, ReadModel, SafeStr, UtcDateTime
from services.api.users.password_policy import MIN_LENGTH, check_password, password_problem

Role = Literal["admin", "operator", "driver"]
# ASCII addresses only: stored lowercase, and Python's and Postgres's lower() agree on ASCII.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=320, pattern=EMAIL_PATTERN),
]
Password = Annotated[
    SafeStr,
    Field(
        min_length=MIN_LENGTH,
        max_length=1024,
        description=f"At least {MIN_LENGTH} characters, not a common password, not the email.",
    ),
    AfterValidator(check_password),
]


class _PasswordNotEmail(ApiModel):
    """Refuses a password that contains the email address (or its local part)."""

    @model_validator(mode="after")
    def _not_the_email(self) -> _PasswordNotEmail:
        password = getattr(self, "password", None)
        email = getattr(self, "email", None)
        if password and email and password_problem(password, email):
            raise ValueError("password must not contain the email address")
        return self


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


class UserCreate(_PasswordNotEmail):
    """A new user (admins only)."""

    email: Email
    password: Password
    role: Role = "driver"
    is_active: bool = True


class UserUpdate(_PasswordNotEmail):
    """Changes to a user (admins only); omitted fields stay as they are."""

    email: Email | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None


class MeUpdate(_PasswordNotEmail):
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
