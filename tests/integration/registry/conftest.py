"""Fixtures of the registry integration tests: its Dispatcher on the test database.

`publisher`, `run` and `sql` come from tests/fixtures/.

Every test uses charge point ids of its own instead of emptying the shared test database.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.routes import ROUTER
from shared.dispatch import Dispatcher
from shared.messagelog import log_call_and_answer
from shared.settings import Settings
from tests.factories import RecordingPublisher

from .helpers import new_cp


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
def cp() -> str:
    return new_cp()
