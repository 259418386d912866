"""The unit of work's batch steps: one instance per batch, run after the bulk rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Column, Integer, MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.dispatch import UnitOfWork

ROWS = Table("t", MetaData(), Column("id", Integer, primary_key=True))


class Session:
    """Records what was executed, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    async def execute(self, statement: Any, params: Any = None) -> None:
        self.log.append(f"insert {len(params)}" if params is not None else str(statement))


@dataclass
class Collect:
    items: list[int] = field(default_factory=list)

    def add(self, item: int) -> None:
        self.items.append(item)

    async def run(self, session: AsyncSession) -> None:
        cast(Session, session).log.append(f"step {self.items}")


async def test_a_step_is_one_per_batch_and_runs_after_the_rows() -> None:
    uow = UnitOfWork()
    uow.step(Collect).add(1)
    uow.add(ROWS, {"id": 1})
    uow.step(Collect).add(2)
    session = Session()
    await uow.flush(cast(AsyncSession, session))
    assert session.log == ["insert 1", "step [1, 2]"]
    await uow.flush(cast(AsyncSession, session))  # flushed work is not run again
    assert session.log == ["insert 1", "step [1, 2]"]
