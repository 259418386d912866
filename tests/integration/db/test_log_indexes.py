"""Big log tables: the API's listings and `csms prune` read indexes, never the whole table.

A seeded database (30 000 rows per log table, in one transaction rolled back at the end,
ANALYZEd so the planner sees their size) and EXPLAIN on the statements the API really runs
(captured from the connection) and on prune's batch selection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from services.api.chargingprofiles import service as decisions
from services.api.commandlog import service as commandlog
from services.api.heartbeats import service as heartbeats
from services.api.ocppmessages import service as ocppmessages
from services.api.pagination import EXACT_COUNT_LIMIT, PageParams
from services.api.statusnotifications import service as statusnotifications
from shared.db.prune import PRUNABLE, batch_sql

pytestmark = pytest.mark.integration

ROWS = 30_000
CP = "CP-SEED-0"
T0 = datetime(2024, 1, 1, tzinfo=UTC)

SEED = [
    "INSERT INTO chargepoint (chargepoint_id) SELECT 'CP-SEED-' || i FROM generate_series(0, 9) i",
    "INSERT INTO location (uuid, name, street_address, postal_code, city, country) VALUES "
    "(:loc, 'Seed', 'x', '1', 'c', 'DE')",
    "INSERT INTO ocpp_message (chargepoint_id, direction, message_type, action, unique_id, "
    "payload, created_at) SELECT 'CP-SEED-' || (i % 10), 'in', 2, 'Heartbeat', i::text, "
    "'{}'::jsonb, :t0 + i * interval '1 minute' FROM generate_series(1, :n) i",
    "INSERT INTO heartbeat (chargepoint_id, timestamp) "
    "SELECT 'CP-SEED-' || (i % 10), :t0 + i * interval '1 minute' FROM generate_series(1, :n) i",
    "INSERT INTO status_notification (chargepoint_id, connectorid, error_code, status, "
    "received_at) SELECT 'CP-SEED-' || (i % 10), 1, 'NoError', 'Available', "
    ":t0 + i * interval '1 minute' FROM generate_series(1, :n) i",
    "INSERT INTO command_log (chargepoint_id, action, request, outcome, created_at) "
    "SELECT 'CP-SEED-' || (i % 10), 'Reset', '{}'::jsonb, 'result', "
    ":t0 + i * interval '1 minute' FROM generate_series(1, :n) i",
    "INSERT INTO balancing_decision (location_uuid, computed_at, trigger, grid_limit, unit, "
    "strategy, allocations, sent) SELECT :loc, :t0 + i * interval '1 minute', 'seed', 32, 'A', "
    "'equal', '[]'::jsonb, '[]'::jsonb FROM generate_series(1, :n) i",
    "INSERT INTO data_transfer (chargepoint_id, vendor_id, direction, received_at) "
    "SELECT 'CP-SEED-' || (i % 10), 'v', 'in', :t0 + i * interval '1 minute' "
    "FROM generate_series(1, :n) i",
]
TABLES = (
    "chargepoint",
    "ocpp_message",
    "heartbeat",
    "status_notification",
    "command_log",
    "balancing_decision",
    "data_transfer",
)


@pytest.fixture
async def seeded(db_engine: AsyncEngine, clean_db: None) -> AsyncIterator[AsyncConnection]:
    async with db_engine.connect() as conn:
        transaction = await conn.begin()
        try:
            params = {"t0": T0, "n": ROWS, "loc": uuid.uuid4()}
            for statement in SEED:
                typed = statement.replace(":t0", "CAST(:t0 AS timestamptz)")
                await conn.execute(text(typed), params)
            for table in TABLES:
                await conn.execute(text(f"ANALYZE {table}"))
            yield conn
        finally:
            await transaction.rollback()


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def explain(
    conn: AsyncConnection, statement: str, parameters: Any = ()
) -> list[dict[str, Any]]:
    result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
    document = result.scalar_one()
    plan = orjson.loads(document) if isinstance(document, str | bytes) else document
    return _nodes(plan[0]["Plan"])


async def listing_plans(conn: AsyncConnection, call: Any) -> tuple[Any, list[list[dict[str, Any]]]]:
    """Run a listing on `conn`, capture its ORDER BY statement(s), EXPLAIN them."""
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement:
            captured.append((statement, parameters))

    event.listen(conn.sync_connection, "before_cursor_execute", capture)
    try:
        result = await call(AsyncSession(bind=conn))
    finally:
        event.remove(conn.sync_connection, "before_cursor_execute", capture)
    assert captured, "the listing ran no ORDER BY statement"
    return result, [await explain(conn, s, p) for s, p in captured]


LISTINGS = [
    (ocppmessages.list_messages, "created_at", "ix_ocpp_message_created_at_id", {}),
    (
        ocppmessages.list_messages,
        "created_at",
        # Either index reads rows in time order; which one is cheaper depends on statistics.
        ("ix_ocpp_message_chargepoint_id_created_at", "ix_ocpp_message_created_at_id"),
        {"chargepoint_id": CP},
    ),
    (heartbeats.list_heartbeats, "timestamp", "ix_heartbeat_timestamp_id", {}),
    (
        statusnotifications.list_status_notifications,
        "received_at",
        "ix_status_notification_received_at_id",
        {},
    ),
    (commandlog.list_commands, "created_at", "ix_command_log_created_at_id", {}),
    (
        commandlog.list_commands,
        "created_at",
        ("ix_command_log_chargepoint_id_created_at", "ix_command_log_created_at_id"),
        {"chargepoint_id": CP},
    ),
    (decisions.list_decisions, "computed_at", "ix_balancing_decision_computed_at_id", {}),
]


@pytest.mark.parametrize(("listing", "field", "index", "filters"), LISTINGS)
async def test_log_listings_read_the_time_index_without_sorting(
    seeded: AsyncConnection,
    listing: Any,
    field: str,
    index: str | tuple[str, ...],
    filters: dict[str, Any],
) -> None:
    acceptable = {index} if isinstance(index, str) else set(index)
    first_params = PageParams(limit=50, offset=0, sort=f"-{field}")

    async def first(session: AsyncSession) -> Any:
        return await listing(session=session, params=first_params, **filters)

    (rows, total, estimated, cursor), plans = await listing_plans(seeded, first)
    assert len(rows) == 50 and cursor is not None
    times = [getattr(r, field) for r in rows]
    assert times == sorted(times, reverse=True)
    expected = ROWS if not filters else ROWS // 10
    assert estimated is (expected > EXACT_COUNT_LIMIT)
    assert total == expected if not estimated else total > EXACT_COUNT_LIMIT

    next_params = PageParams(limit=50, offset=0, sort=f"-{field}", cursor=cursor)

    async def second(session: AsyncSession) -> Any:
        return await listing(session=session, params=next_params, **filters)

    (more, *_), more_plans = await listing_plans(seeded, second)
    assert getattr(more[0], field) < times[-1] or (
        getattr(more[0], field) == times[-1] and more[0].id != rows[-1].id
    )
    assert {r.id for r in more}.isdisjoint({r.id for r in rows})
    for plan in (*plans, *more_plans):
        used = {n.get("Index Name") for n in plan if "Index" in n["Node Type"]}
        assert used & acceptable, [(n["Node Type"], n.get("Index Name")) for n in plan]
        assert not any(n["Node Type"] in ("Sort", "Seq Scan") for n in plan), plan


@pytest.mark.parametrize("table", sorted(PRUNABLE))
async def test_prune_batches_read_an_index_leading_with_the_time_column(
    seeded: AsyncConnection, table: str
) -> None:
    column = PRUNABLE[table]
    cutoff = T0 + timedelta(minutes=ROWS // 100)  # the oldest 1%
    statement = batch_sql(table, column).replace(":cutoff", "$1").replace(":batch", "$2::int")
    plan = await explain(seeded, statement, (cutoff, 10_000))
    used = {n.get("Index Name") for n in plan if "Index" in n["Node Type"]}
    assert any(name and name.startswith(f"ix_{table}_{column}") for name in used), [
        (n["Node Type"], n.get("Index Name")) for n in plan
    ]
    assert not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table for n in plan
    ), plan
