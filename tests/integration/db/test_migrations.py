"""Migrations: up from empty, down to base, up again; and the head equals the models."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db.migrate import (
    create_database_if_missing,
    current,
    downgrade,
    drop_database_if_exists,
    upgrade,
)
from shared.db.models import Base
from tests.fixtures.db import run_in_thread

pytestmark = pytest.mark.integration

MIGRATIONS_DB = "csms_test_migrations"


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_table_names)
    finally:
        await engine.dispose()


@pytest.fixture
def migrations_url(db_url: str) -> Iterator[str]:
    """A throwaway database on the test server, dropped afterwards."""
    url = make_url(db_url).set(database=MIGRATIONS_DB).render_as_string(hide_password=False)
    run_in_thread(drop_database_if_exists, url)
    assert run_in_thread(create_database_if_missing, url) is True
    assert run_in_thread(create_database_if_missing, url) is False
    yield url
    run_in_thread(drop_database_if_exists, url)


async def test_upgrade_downgrade_upgrade(migrations_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    assert run_in_thread(current, migrations_url) is None

    run_in_thread(upgrade, migrations_url)
    assert await _tables(migrations_url) == model_tables | {"alembic_version"}
    assert run_in_thread(current, migrations_url) == "0001"

    run_in_thread(downgrade, migrations_url, "base")
    assert await _tables(migrations_url) == {"alembic_version"}
    assert run_in_thread(current, migrations_url) is None

    run_in_thread(upgrade, migrations_url, "head")
    assert await _tables(migrations_url) == model_tables | {"alembic_version"}


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_head_matches_models(db_url: str, db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


def _quoted(sql: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", sql)) or set(re.findall(r"\b\d+\b", sql))


def _db_checks(conn: Connection) -> dict[str, set[str]]:
    inspector = inspect(conn)
    found: dict[str, set[str]] = {}
    for table in Base.metadata.tables:
        for check in inspector.get_check_constraints(table):
            found[str(check["name"])] = _quoted(str(check["sqltext"]))
    return found


async def test_check_constraints_match_models(db_engine: AsyncEngine) -> None:
    """compare_metadata ignores CHECKs: names and value sets are compared here."""
    expected: dict[str, set[str]] = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint):
                expected[str(constraint.name)] = _quoted(str(constraint.sqltext))
    async with db_engine.connect() as conn:
        found = await conn.run_sync(_db_checks)
    assert found == expected


async def test_identifier_names_fit_postgres(db_engine: AsyncEngine) -> None:
    """Postgres truncates names over 63 bytes silently; none of ours is that long."""
    async with db_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
                " WHERE n.nspname = 'public'"
                " UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
            )
        )
        names = [row[0] for row in rows]
    assert names
    assert all(len(name) < 63 for name in names), [n for n in names if len(n) >= 63]


async def test_concurrent_upgrades_serialise(migrations_url: str) -> None:
    """Replicas running `csms migrate` together: the advisory lock lets one do the work."""
    code = "import sys; from shared.db.migrate import upgrade; upgrade(sys.argv[1])"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, migrations_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    for process in processes:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()
    assert await _tables(migrations_url) == set(Base.metadata.tables) | {"alembic_version"}
