"""Password hashing (argon2id), shared by the API (users, charge point passwords) and the
gateway (charge point HTTP Basic auth, security profile 1: verified against the hash the
registry answers).

Verification is deliberately slow (tens of milliseconds of CPU and 64 MiB of memory with the
library's defaults): call `verify_password` off the event loop (`asyncio.to_thread`) in a
service that must stay responsive.
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when there is none, so timing does not reveal it (made once,
    on first use: hashing at import would slow every process that imports this module)."""
    return _hasher.hash("no-such-user-" + secrets.token_hex(8))


def hash_password(password: str) -> str:
    """The argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when `password` matches `password_hash` (False for a missing or broken hash)."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older argon2 parameters."""
    return _hasher.check_needs_rehash(password_hash)
