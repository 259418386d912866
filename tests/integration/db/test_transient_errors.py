"""An unreachable or busy database is a Retry for the consumer; a bad statement is not."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.bus import Retry
from shared.db.session import create_engine, create_sessionmaker, is_transient_db_error
from shared.dispatch import Dispatcher, HandlerContext, Route, Router
from shared.envelope import Envelope, Kind
from shared.messages import Message
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher


class Statement(Message):
    sql: str


async def _select(ctx: HandlerContext, env: Envelope, req: Statement) -> None:
    await ctx.session.execute(text(req.sql))


def dispatcher(engine: AsyncEngine) -> Dispatcher:
    return Dispatcher(
        router=Router(
            [
                Route(
                    "x",
                    "test.sql",
                    _select,
                    Statement,
                    log_message=False,
                    chargepoint_required=False,
                )
            ]
        ),
        sessionmaker=create_sessionmaker(engine),
        settings=Settings(),
        publisher=RecordingPublisher(),
    )


def delivery(sql: str) -> FakeDelivery:
    return FakeDelivery(
        Envelope(kind=Kind.EVENT, action="test.sql", payload={"sql": sql}), "test.sql"
    )


async def test_unreachable_database_is_retried_not_blamed_on_the_messages() -> None:
    down = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(Retry):
            await dispatcher(down)([delivery("select 1")])
    finally:
        await down.dispose()


async def test_a_bad_statement_is_a_handler_failure(db_engine: AsyncEngine) -> None:
    with pytest.raises(Exception) as caught:
        await dispatcher(db_engine)([delivery("select 1/0")])
    assert not isinstance(caught.value, Retry)
    assert not is_transient_db_error(caught.value)


async def test_deadlock_and_admin_shutdown_codes_are_transient(db_engine: AsyncEngine) -> None:
    for code in ("40P01", "57P01", "08006"):
        with pytest.raises(Exception) as caught:
            async with db_engine.begin() as conn:
                await conn.execute(
                    text(f"do $$ begin raise exception 'x' using errcode = '{code}'; end $$")
                )
        assert is_transient_db_error(caught.value), code
