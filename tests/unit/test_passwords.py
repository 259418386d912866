"""argon2 helpers in shared/ (the API re-exports them; the registry verifies with them)."""

from __future__ import annotations

import asyncio
import threading

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


async def test_async_verify_and_hash_run_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[int] = []

    def recording_verify(password: str, password_hash: str | None) -> bool:
        threads.append(threading.get_ident())
        return password == "right" and password_hash == "h"

    def recording_hash(password: str) -> str:
        threads.append(threading.get_ident())
        return f"hash-of-{password}"

    monkeypatch.setattr(passwords, "verify_password", recording_verify)
    monkeypatch.setattr(passwords, "hash_password", recording_hash)
    assert await passwords.verify_password_async("right", "h") is True
    assert await passwords.verify_password_async("wrong", "h") is False
    assert await passwords.hash_password_async("pw") == "hash-of-pw"
    loop_thread = threading.get_ident()
    assert len(threads) == 3
    assert loop_thread not in threads


async def test_at_most_limit_computations_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = threading.Lock()
    pair = threading.Barrier(2, timeout=30)  # two verifications meet: both are running
    active = 0
    peak = 0

    def slow_verify(password: str, password_hash: str | None) -> bool:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        pair.wait()
        with lock:
            active -= 1
        return True

    monkeypatch.setattr(passwords, "verify_password", slow_verify)
    workers = passwords.PasswordWorkers(limit=2)
    results = await asyncio.gather(*(workers.verify("p", "h") for _ in range(12)))
    assert results == [True] * 12
    assert peak == 2


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        passwords.PasswordWorkers(limit=0)


def test_the_api_hashes_through_the_shared_workers() -> None:
    assert security.hash_password_async is passwords.hash_password_async
    assert security.verify_password_async is passwords.verify_password_async
