"""argon2 helpers in shared/ (the API re-exports them; the registry verifies with them)."""

from __future__ import annotations

import pytest

from services.api import security
from shared import passwords


@pytest.mark.production_argon2
def test_round_trip() -> None:
    h = passwords.hash_password("0123456789abcdef")
    assert h.startswith("$argon2id$")
    assert passwords.verify_password("0123456789abcdef", h)
    assert not passwords.verify_password("0123456789abcdeF", h)
    assert not passwords.verify_password("0123456789abcdef", None)
    assert not passwords.verify_password("x", "not-a-hash")
    assert not passwords.needs_rehash(h)


def test_the_api_uses_the_shared_helpers() -> None:
    assert security.hash_password is passwords.hash_password
    assert security.verify_password is passwords.verify_password
    assert security.needs_rehash is passwords.needs_rehash
