"""Password policy of API users (issue 13): 12+ characters, not a common password, not the
email.

The common-password list is short on purpose: it holds the well-known passwords of 12 or more
characters (and those that become so by repetition), since shorter ones are refused by length
already. Comparison ignores case, and a common password with digits or punctuation appended
(`password1234!`) counts as common too.
"""

from __future__ import annotations

import re
from typing import Final

MIN_LENGTH: Final = 12

COMMON_PASSWORDS: Final = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789012345",
        "1234567890123456",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "1qaz2wsx3edc4rfv",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "abc123abc123",
        "adminadmin12",
        "administrator",
        "admin-change-me",
        "changeme1234",
        "iloveyou1234",
        "letmein12345",
        "monkeymonkey",
        "passw0rdpassw0rd",
        "password",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "qazwsxedcrfv",
        "qwerty123456",
        "qwertyqwerty",
        "qwertyuiop",
        "qwertyuiopasdf",
        "qwertyuiop[]",
        "qwertyuiopasdfghjkl",
        "superman1234",
        "trustno1trustno1",
        "welcome12345",
        "welcomewelcome",
        "zaq12wsxcde3",
        "zxcvbnm12345",
        "asdfghjkl123",
        "asdfghjkl;'",
        "0987654321qwerty",
        "qwerty12345678",
        "p@ssw0rd1234",
        "p@ssword1234",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "dragon123456",
        "master123456",
        "shadow123456",
        "michael12345",
        "starwars1234",
        "correcthorsebatterystaple",
        "correct-horse-battery-staple",
        "000000000000",
        "111111111111",
        "999999999999",
    }
)

_TRAILING = re.compile(r"[\d\W_]+$")


def _variants(password: str) -> set[str]:
    lowered = password.lower()
    stripped = _TRAILING.sub("", lowered)
    return {lowered, stripped}


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(set(password)) < 4:
        return "must not repeat so few characters"
    if any(v in COMMON_PASSWORDS for v in _variants(password)) or password.isdigit():
        return "is a common password"
    if email:
        lowered, address = password.lower(), email.strip().lower()
        local = address.partition("@")[0]
        if address in lowered or (len(local) >= 4 and local in lowered):
            return "must not contain the email address"
    return None


def check_password(password: str) -> str:
    """Pydantic validator: refuse a password that fails the policy (email checked apart)."""
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(f"password {problem}")
    return password
