"""`csms prune`: delete history older than a retention period, in small batches.

The message log, heartbeats, status history, command log and data transfers grow with every
message and nothing else removes them. Meter values and transactions are never pruned here:
they are billing records. Deleting in batches keeps each transaction (and its locks) short,
so it can run beside live traffic, e.g. daily from cron or a Kubernetes CronJob.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.session import create_engine

log = logging.getLogger(__name__)

# table -> the column that says how old a row is
PRUNABLE: Final[dict[str, str]] = {
    "ocpp_message": "created_at",
    "heartbeat": "timestamp",
    "status_notification": "received_at",
    "command_log": "created_at",
    "data_transfer": "received_at",
}


def batch_sql(table: str, column: str) -> str:
    """One batch: the `:batch` oldest rows before `:cutoff` (and rows sharing the last one's
    time), as two range conditions on the index leading with the time column.

    No join: `ctid IN (SELECT ... LIMIT n)` or `id IN (...)` let Postgres hash-join the
    subquery against a sequential scan of the whole table, once per batch.
    """
    return (
        f'DELETE FROM "{table}" WHERE "{column}" < :cutoff AND "{column}" <= COALESCE('
        f'(SELECT "{column}" FROM "{table}" WHERE "{column}" < :cutoff '
        f'ORDER BY "{column}" OFFSET :batch - 1 LIMIT 1), :cutoff)'
    )


async def prune(
    engine: AsyncEngine, *, older_than: datetime, batch: int = 10_000, dry_run: bool = False
) -> dict[str, int]:
    """Delete rows older than `older_than` from every prunable table; rows per table."""
    counts: dict[str, int] = {}
    for table, column in PRUNABLE.items():
        if dry_run:
            async with engine.connect() as conn:
                found = await conn.execute(
                    text(f'SELECT count(*) FROM "{table}" WHERE "{column}" < :cutoff'),
                    {"cutoff": older_than},
                )
                counts[table] = int(found.scalar_one())
            continue
        total = 0
        while True:
            async with engine.begin() as conn:
                deleted = await conn.execute(
                    text(batch_sql(table, column)), {"cutoff": older_than, "batch": batch}
                )
            total += deleted.rowcount
            if deleted.rowcount < batch:
                break
        counts[table] = total
    return counts


def build_parser() -> argparse.ArgumentParser:
    """The `csms prune` command line."""
    parser = argparse.ArgumentParser(
        prog="csms prune",
        description="Delete message log, heartbeat, status, command and data-transfer history "
        "older than a retention period (meter values and transactions are kept).",
    )
    parser.add_argument("--older-than-days", type=int, default=90, metavar="N")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per DELETE")
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run `csms prune` with `argv`; print rows per table; return the exit status."""
    from shared.settings import get_settings

    parser = build_parser()
    args = parser.parse_args(list(argv))
    if args.older_than_days < 1 or args.batch < 1:
        parser.error("--older-than-days and --batch must be at least 1")
    cutoff = datetime.now(UTC) - timedelta(days=args.older_than_days)

    async def run() -> dict[str, int]:
        engine = create_engine(get_settings().database_url)
        try:
            return await prune(engine, older_than=cutoff, batch=args.batch, dry_run=args.dry_run)
        finally:
            await engine.dispose()

    counts = asyncio.run(run())
    verb = "would delete" if args.dry_run else "deleted"
    for table, n in counts.items():
        log.info(
            "%s: %s %d rows older than %s",
            table,
            verb,
            n,
            cutoff.isoformat(),
            extra={"table": table, "rows": n, "dry_run": args.dry_run},
        )
    return 0
