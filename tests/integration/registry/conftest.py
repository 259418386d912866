"""Fixtures of the registry integration tests: its Dispatcher on the test database.

Every test uses charge point ids of its own instead of emptying the shared test database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.registry.routes import ROUTER
from shared.dispatch import Dispatcher
from shared.envelope import Envelope
from shared.messagelog import log_call_and_answer
from shared.settings import Settings

from .helpers import RecordingPublisher, Run, Sql, delivery, new_cp


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def settings() -> Settings:
    return Settings(heartbeat_interval=120)


@pytest.fixture
def dispatcher(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    publisher: RecordingPublisher,
    settings: Settings,
) -> Dispatcher:
    return Dispatcher(
        router=ROUTER,
        sessionmaker=db_sessionmaker,
        settings=settings,
        publisher=publisher,
        log_writer=log_call_and_answer,
    )


@pytest.fixture
def run(dispatcher: Dispatcher) -> Run:
    """Run envelopes through the dispatcher as ONE batch; return the replies."""

    async def go(envelopes: Sequence[Envelope]) -> list[Envelope | None]:
        return await dispatcher([delivery(e) for e in envelopes])

    return go


@pytest.fixture
def sql(db_engine: AsyncEngine) -> Sql:
    """Run one statement in its own committed transaction; rows as dicts."""

    async def go(statement: str, **params: Any) -> list[dict[str, Any]]:
        async with db_engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return [dict(r._mapping) for r in result] if result.returns_rows else []

    return go


@pytest.fixture
def cp() -> str:
    return new_cp()
