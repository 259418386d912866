"""Fixtures of the transactions integration tests: a Dispatcher on the test database.

`publisher`, `run` and `sql` come from tests/fixtures/.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transactions.routes import ROUTER
from shared.dispatch import Dispatcher
from shared.messagelog import log_call_and_answer
from shared.settings import Settings
from tests.factories import RecordingPublisher, Sql

from .helpers import CP


@pytest.fixture
def dispatcher(
    db_sessionmaker: async_sessionmaker[AsyncSession], publisher: RecordingPublisher
) -> Dispatcher:
    return Dispatcher(
        router=ROUTER,
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=publisher,
        log_writer=log_call_and_answer,
    )


@pytest.fixture
async def chargepoint(clean_db: None, sql: Sql) -> str:
    """A registered charge point with connectors 1 and 2 (what the registry writes at boot)."""
    await sql(
        "insert into chargepoint (chargepoint_id, registration_status) values (:cp, 'Accepted')",
        cp=CP,
    )
    await sql(
        "insert into connector (chargepoint_id, connectorid) values (:cp, 1), (:cp, 2)", cp=CP
    )
    return CP
