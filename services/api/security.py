"""Passwords (argon2), access tokens (JWT, HS256) and API keys (random, stored as sha256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

# The argon2 helpers live in shared/ (the gateway verifies charge point passwords too).
# Request handlers use the `_async` ones: argon2 in a worker thread, bounded per process.
from shared.passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password,
    verify_password_async,
)

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
    "end_read_transaction",
    "generate_api_key",
    "hash_api_key",
    "hash_password",
    "hash_password_async",
    "looks_like_api_key",
    "needs_rehash",
    "verify_password",
    "verify_password_async",
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


async def end_read_transaction(session: AsyncSession) -> None:
    """Give the request's pooled connection back before slow work (argon2).

    Commits the read-only transaction a request opened so far (the caller's lookup, ...):
    objects already loaded stay usable (`expire_on_commit=False`), the next statement
    starts a new transaction. A burst of logins then holds threads, not connections.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("the session has unwritten changes: end_read_transaction is for reads")
    if session.in_transaction():
        await session.commit()
