"""Password policy of API users: length, common passwords, not the email."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.api.users.password_policy import password_problem
from services.api.users.schemas import UserCreate


@pytest.mark.parametrize(
    ("password", "email", "problem"),
    [
        ("short-pass1", None, "at least 12"),
        ("Password1234!", None, "common"),
        ("QWERTY123456", None, "common"),
        ("123456789012345678", None, "common"),
        ("aaaaaaaaaaaaaaaa", None, "repeat"),
        ("ababababababab", None, "repeat"),
        ("jane.doe-is-great", "Jane.Doe@example.com", "email"),
        ("x-jane.doe@example.com-x", "jane.doe@example.com", "email"),
        ("vivid-otter-lamp-42", "jane@example.com", None),
        ("correct horse battery", None, None),
    ],
)
def test_password_problem(password: str, email: str | None, problem: str | None) -> None:
    found = password_problem(password, email)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_user_create_applies_the_policy() -> None:
    UserCreate(email="ann@example.com", password="vivid-otter-lamp-42")
    for password in ("too-short", "password1234", "ann@example.com-2024"):
        with pytest.raises(ValidationError):
            UserCreate(email="ann@example.com", password=password)
