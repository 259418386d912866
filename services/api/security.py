"""Passwords (argon2), access tokens (JWT, HS256) and API keys (random, stored as sha256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

# The argon2 helpers live in shared/ (the registry verifies charge point passwords too).
from shared.passwords import hash_password, needs_rehash, verify_password

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "csms"
API_KEY_PREFIX = "csms_"
# `csms_` + 8 characters shown in listings to recognise a key; the whole key is 256 bits.
API_KEY_PREFIX_LENGTH = len(API_KEY_PREFIX) + 8

__all__ = [
    "API_KEY_PREFIX",
    "API_KEY_PREFIX_LENGTH",
    "JWT_ALGORITHM",
    "JWT_ISSUER",
    "InvalidToken",
    "TokenClaims",
    "api_key_matches",
    "create_access_token",
    "decode_access_token",
    "generate_api_key",
    "hash_api_key",
    "hash_password",
    "looks_like_api_key",
    "needs_rehash",
    "verify_password",
]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified access token says."""

    subject: uuid.UUID
    role: str
    expires_at: datetime


class InvalidToken(Exception):
    """The token is malformed, expired or not signed by us."""


def create_access_token(
    *, user_id: uuid.UUID, role: str, secret: str, ttl_seconds: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """A signed JWT for the user and its expiry time."""
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(seconds=ttl_seconds)
    payload = {
        "sub": str(user_id),
        "role": role,
        "iss": JWT_ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), expires


def decode_access_token(token: str, *, secret: str) -> TokenClaims:
    """Verify signature, issuer and expiry; raise InvalidToken otherwise."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            options={"require": ["sub", "exp", "iss"]},
        )
        return TokenClaims(
            subject=uuid.UUID(str(payload["sub"])),
            role=str(payload.get("role", "")),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc


def looks_like_api_key(value: str) -> bool:
    """True when a bearer credential has the shape of an API key rather than a JWT."""
    return value.startswith(API_KEY_PREFIX)


def generate_api_key() -> tuple[str, str, str]:
    """A new API key: (the key, shown once; its display prefix; its sha256 hex hash)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:API_KEY_PREFIX_LENGTH], hash_api_key(key)


def hash_api_key(key: str) -> str:
    """The sha256 hex digest of a key (enough for 256 random bits; no salt needed)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_matches(key: str, key_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_api_key(key), key_hash)
