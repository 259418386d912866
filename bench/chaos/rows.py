"""The other side of the comparison: what Postgres holds for the run's charge points."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.chaos.accounting import MeterRow, TxRow

CP_PATTERN = "CHAOS-%"


async def meter_rows(engine: AsyncEngine) -> list[MeterRow]:
    """Every meter_value row of the run."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "select chargepoint_id, value, transaction_id from meter_value "
                "where chargepoint_id like :p"
            ),
            {"p": CP_PATTERN},
        )
        return [MeterRow(str(cp), str(value), tx) for cp, value, tx in result.all()]


async def transaction_rows(engine: AsyncEngine) -> list[TxRow]:
    """Every transaction row of the run."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "select chargepoint_id, transaction_id, remote_transaction_id, status, "
                "stop_message_id is not null and closed_by is null "
                'from "transaction" where chargepoint_id like :p'
            ),
            {"p": CP_PATTERN},
        )
        return [
            TxRow(str(a), int(b), None if c is None else str(c), str(d), bool(e))
            for a, b, c, d, e in result
        ]


async def counts(engine: AsyncEngine) -> tuple[int, int, int]:
    """(meter_value rows, transaction rows, open transactions): to see the system settle."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "select (select count(*) from meter_value where chargepoint_id like :p), "
                    '(select count(*) from "transaction" where chargepoint_id like :p), '
                    '(select count(*) from "transaction" where chargepoint_id like :p '
                    "and status = 'Active')"
                ),
                {"p": CP_PATTERN},
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])


async def provision_tags(engine: AsyncEngine, tags: list[str]) -> None:
    """The id tags the charge points authorize with (unlimited concurrent transactions)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "insert into id_tag (id_token, revoked) values (:t, false) on conflict do nothing"
            ),
            [{"t": t} for t in tags],
        )
