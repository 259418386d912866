"""`csms prune`: old history goes, recent history and billing records stay."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.prune import prune
from tests.factories import Sql

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)
CUTOFF = NOW - timedelta(days=90)


async def seed(sql: Sql) -> None:
    await sql("insert into chargepoint (chargepoint_id) values ('CP-PRUNE')")
    for i, at in enumerate((OLD, OLD, NOW)):
        await sql(
            "insert into ocpp_message (chargepoint_id, direction, message_type, action, "
            "unique_id, payload, message_id, created_at) values ('CP-PRUNE', 'in', 2, "
            "'Heartbeat', :u, '{}', :m, :at)",
            u=str(i),
            m=f"m{i}",
            at=at,
        )
        await sql(
            "insert into heartbeat (chargepoint_id, timestamp, message_id) "
            "values ('CP-PRUNE', :at, :m)",
            at=at,
            m=f"h{i}",
        )
    await sql(
        "insert into meter_value (message_id, seq, chargepoint_id, connectorid, timestamp, "
        "value) values ('mv', 0, 'CP-PRUNE', 1, :at, '10')",
        at=OLD,
    )


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"select count(*) from {table}"))).scalar_one())


async def test_prune_deletes_only_old_history(
    db_engine: AsyncEngine, clean_db: None, sql: Sql
) -> None:
    await seed(sql)
    dry = await prune(db_engine, older_than=CUTOFF, dry_run=True)
    assert dry["ocpp_message"] == 2 and dry["heartbeat"] == 2
    assert await count(db_engine, "ocpp_message") == 3
    done = await prune(db_engine, older_than=CUTOFF, batch=1)  # several batches
    assert done["ocpp_message"] == 2 and done["heartbeat"] == 2
    assert await count(db_engine, "ocpp_message") == 1
    assert await count(db_engine, "heartbeat") == 1
    assert await count(db_engine, "meter_value") == 1  # billing records are never pruned


def test_prune_command_refuses_a_zero_retention() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "prune", "--older-than-days", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--older-than-days" in done.stderr


def test_prune_and_migrate_log_json_lines_when_asked(db_url: str) -> None:
    """CSMS_LOG_FORMAT=json: every line the one-shot commands write is a JSON object."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "CSMS_LOG_FORMAT": "json", "CSMS_DATABASE_URL": db_url}
    for argv in (["prune", "--dry-run", "--older-than-days", "30"], ["migrate"]):
        result = subprocess.run(
            [sys.executable, "-m", "shared.cli", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        lines = (result.stdout + result.stderr).splitlines()
        assert lines, argv
        records = [json.loads(line) for line in lines]
        assert {r["service"] for r in records} == {argv[0]}
