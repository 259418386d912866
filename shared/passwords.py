"""Password hashing (argon2id), shared by the API (users, charge point passwords) and the
gateway (charge point HTTP Basic auth, security profile 1: verified against the hash the
registry answers).

Hashing and verification are deliberately slow (tens of milliseconds of CPU and 64 MiB of
memory each with the library's defaults). In `async` code use `hash_password_async` /
`verify_password_async`: they run argon2 in a worker thread, at most `MAX_CONCURRENT` at a
time per process (the rest wait their turn without blocking the event loop), so a burst of
logins or connection attempts neither stalls other requests nor exhausts memory.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import weakref
from functools import cache
from typing import Final

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


MAX_CONCURRENT: Final = max(1, min(os.cpu_count() or 1, 8))
"""argon2 computations at a time per process: CPU-bound, and 64 MiB of memory each."""


class PasswordWorkers:
    """argon2 off the event loop: a worker thread each, at most `limit` at a time."""

    def __init__(self, limit: int = MAX_CONCURRENT) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        # One semaphore per event loop (an asyncio.Semaphore belongs to the loop it first
        # waited on; tests and `csms run` may use several loops in one process).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.limit)
        return slots

    async def hash(self, password: str) -> str:
        """`hash_password` in a worker thread."""
        async with self._semaphore():
            return await asyncio.to_thread(hash_password, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """`verify_password` in a worker thread."""
        async with self._semaphore():
            return await asyncio.to_thread(verify_password, password, password_hash)


WORKERS: Final = PasswordWorkers()
"""The process's argon2 workers (the API's; the gateway may share them)."""


async def hash_password_async(password: str) -> str:
    """The argon2id hash of a password, computed off the event loop (bounded)."""
    return await WORKERS.hash(password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    """`verify_password`, computed off the event loop (bounded)."""
    return await WORKERS.verify(password, password_hash)
