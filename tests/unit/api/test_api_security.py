"""Passwords, tokens and API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.api import security

SECRET = "unit-test-secret-0123456789abcdef0123456789"


def test_password_hash_round_trip() -> None:
    h = security.hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert security.verify_password("correct horse", h)
    assert not security.verify_password("wrong", h)
    assert not security.verify_password("correct horse", None)
    assert not security.verify_password("x", "not-a-hash")


def test_token_round_trip() -> None:
    uid = uuid.uuid4()
    token, expires = security.create_access_token(
        user_id=uid, role="operator", secret=SECRET, ttl_seconds=120
    )
    claims = security.decode_access_token(token, secret=SECRET)
    assert claims.subject == uid and claims.role == "operator"
    assert abs((claims.expires_at - expires).total_seconds()) < 1


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c"],
)
def test_garbage_tokens_are_invalid(token: str) -> None:
    with pytest.raises(security.InvalidToken):
        security.decode_access_token(token, secret=SECRET)


def test_expired_and_foreign_tokens_are_invalid() -> None:
    old, _ = security.create_access_token(
        user_id=uuid.uuid4(),
        role="admin",
        secret=SECRET,
        ttl_seconds=60,
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    with pytest.raises(security.InvalidToken):
        security.decode_access_token(old, secret=SECRET)
    other, _ = security.create_access_token(
        user_id=uuid.uuid4(), role="admin", secret="x" * 40, ttl_seconds=60
    )
    with pytest.raises(security.InvalidToken):
        security.decode_access_token(other, secret=SECRET)


def test_api_keys() -> None:
    key, prefix, key_hash = security.generate_api_key()
    assert key.startswith("csms_") and key.startswith(prefix)
    assert len(prefix) == security.API_KEY_PREFIX_LENGTH <= 16
    assert len(key) > 40 and key_hash != key and len(key_hash) == 64
    assert security.api_key_matches(key, key_hash)
    assert not security.api_key_matches(key + "x", key_hash)
    assert security.looks_like_api_key(key)
    assert not security.looks_like_api_key("eyJhbGciOi...")
    assert security.generate_api_key()[0] != key
