"""argon2 runs off the API's event loop: a burst of logins does not stall other requests."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from shared import passwords

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD

TOKEN_URL = "/api/v1/auth/token"
LOGINS = 20
SAFETY = 60.0
"""Seconds a held verification waits at most (only reached when the loop is blocked)."""


class CountingWorkers(passwords.PasswordWorkers):
    """The process's argon2 workers, noting when every login has asked for a verification."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0
        self.all_asked = asyncio.Event()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        self.asked += 1
        if self.asked == LOGINS:
            self.all_asked.set()
        return await super().verify(password, password_hash)


async def test_healthz_answers_while_twenty_logins_are_verifying(
    client: httpx.AsyncClient, db_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    timed_out: list[bool] = []
    real_verify = passwords.verify_password

    def held_verify(password: str, password_hash: str | None) -> bool:
        # Verifications wait here until the test releases them. Were argon2 run on the
        # event loop, the test could not run to release them: the wait would time out.
        if not release.wait(SAFETY):
            timed_out.append(True)
            release.set()
        return real_verify(password, password_hash)

    workers = CountingWorkers()
    monkeypatch.setattr(passwords, "WORKERS", workers)
    monkeypatch.setattr(passwords, "verify_password", held_verify)
    pool = db_engine.pool
    assert isinstance(pool, QueuePool)
    connections_before = pool.checkedout()
    logins = [
        asyncio.create_task(
            client.post(TOKEN_URL, data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        )
        for _ in range(LOGINS)
    ]
    await asyncio.wait_for(workers.all_asked.wait(), SAFETY)

    # Every login is now verifying or queued for it: the loop still answers.
    health = await client.get("/healthz")
    logins_done_at_health = sum(t.done() for t in logins)
    # ... and the logins waiting for argon2 hold no pooled database connection.
    connections_while_verifying = pool.checkedout()
    release.set()
    answers = await asyncio.gather(*logins)

    assert health.status_code == 200
    assert logins_done_at_health == 0
    assert timed_out == []
    assert connections_while_verifying == connections_before
    assert [a.status_code for a in answers] == [200] * LOGINS
