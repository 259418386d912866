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
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db.migrate import (
    alembic_config,
    create_database_if_missing,
    current,
    downgrade,
    drop_database_if_exists,
    upgrade,
)
from shared.db.models import Base
from tests.fixtures.db import run_in_thread

pytestmark = pytest.mark.integration

MIGRATIONS_DB_SUFFIX = "_migrations"
"""The throwaway database is named after the test database (csms_test -> csms_test_migrations),
so suites running at once on their own databases do not drop each other's."""


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


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
    base = make_url(db_url)
    url = base.set(database=f"{base.database}{MIGRATIONS_DB_SUFFIX}").render_as_string(
        hide_password=False
    )
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
    assert run_in_thread(current, migrations_url) == _head()

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


async def _execute(url: str, *statements: str) -> list[dict[str, Any]]:
    """Run `statements` in one transaction; the rows of the last one."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = None
            for statement in statements:
                result = await conn.execute(text(statement))
            if result is None or not result.returns_rows:
                return []
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


async def test_0002_fills_the_new_columns_from_existing_rows(migrations_url: str) -> None:
    """Reservations get their charge point and connector number; wh_meter_last_at its time."""
    run_in_thread(upgrade, migrations_url, "0001")
    await _execute(
        migrations_url,
        "INSERT INTO chargepoint (chargepoint_id) VALUES ('CP-M')",
        "INSERT INTO connector (uuid, chargepoint_id, connectorid)"
        " VALUES ('00000000-0000-0000-0000-000000000002', 'CP-M', 2)",
        "INSERT INTO reservation (connector_uuid, reservation_id, expiry_date, id_tag)"
        " VALUES ('00000000-0000-0000-0000-000000000002', 7, '2030-01-01Z', 'T')",
        'INSERT INTO "transaction" (transaction_id, chargepoint_id, connectorid,'
        " start_transaction_timestamp, wh_meter_start, wh_meter_last, id_tag, status,"
        " start_message_id, stop_transaction_timestamp) VALUES"
        " (1, 'CP-M', 2, '2025-01-01T10:00Z', 0, 500, 'T', 'Active', 'm1', NULL),"
        " (2, 'CP-M', 2, '2025-01-01T08:00Z', 0, 900, 'T', 'Completed', 'm2',"
        " '2025-01-01T09:00Z'),"
        " (3, 'CP-M', 2, '2025-01-01T11:00Z', 0, 0, 'T', 'Active', 'm3', NULL)",
        "INSERT INTO meter_value (message_id, seq, transaction_id, chargepoint_id, timestamp,"
        " unit, value, value_numeric) VALUES"
        " ('v', 0, 1, 'CP-M', '2025-01-01T10:05Z', 'Wh', '500', 500),"
        " ('v', 1, 1, 'CP-M', '2025-01-01T10:09Z', 'A', '16', 16)",
    )
    run_in_thread(upgrade, migrations_url, "0002")
    assert await _execute(
        migrations_url, "SELECT chargepoint_id, connectorid, reservation_id FROM reservation"
    ) == [{"chargepoint_id": "CP-M", "connectorid": 2, "reservation_id": 7}]
    rows = await _execute(
        migrations_url,
        "SELECT transaction_id, to_char(wh_meter_last_at AT TIME ZONE 'UTC', 'HH24:MI') AS at"
        ' FROM "transaction" ORDER BY 1',
    )
    # Active: its newest total register reading (not the current one); Completed: the stop;
    # Active without readings: the start.
    assert rows == [
        {"transaction_id": 1, "at": "10:05"},
        {"transaction_id": 2, "at": "09:00"},
        {"transaction_id": 3, "at": "11:00"},
    ]
    # A reservation of connectorId 0 cannot go back to 0001 (connector required): dropped.
    await _execute(
        migrations_url,
        "INSERT INTO reservation (chargepoint_id, connectorid, reservation_id, expiry_date,"
        " id_tag) VALUES ('CP-M', 0, 8, '2030-01-01Z', 'T')",
    )
    run_in_thread(downgrade, migrations_url, "0001")
    assert await _execute(migrations_url, "SELECT reservation_id FROM reservation") == [
        {"reservation_id": 7}
    ]
