"""How the Dispatcher turns handler failures into outcomes, and what the message log records
(issue 10, items 2, 3 and 9), with synthetic routes on the test database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus import DATA_ERROR, Reject
from shared.bus.topology import UPSTREAM, upstream_key
from shared.dispatch import Dispatcher, HandlerContext, OcppError, Payload, Route, Router
from shared.envelope import Envelope, Kind
from shared.messagelog import CALL, CALLERROR, CALLRESULT, log_call_and_answer
from shared.messages import NoFields
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher, Sql

pytestmark = pytest.mark.integration

FIRE = upstream_key("ocpp1.6", "Heartbeat")
RPC = upstream_key("ocpp1.6", "Authorize")


async def refuse(ctx: HandlerContext, env: Envelope, req: NoFields) -> Payload | None:
    raise OcppError("FormationViolation", "cannot read it")


async def overflow(ctx: HandlerContext, env: Envelope, req: NoFields) -> Payload | None:
    await ctx.session.execute(text("SELECT CAST(2147483647 AS integer) + 1"))  # SQLSTATE 22003
    return None


def dispatcher(sessionmaker: async_sessionmaker[AsyncSession], *routes: Route[Any]) -> Dispatcher:
    return Dispatcher(
        router=Router(routes),
        sessionmaker=sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
        log_writer=log_call_and_answer,
    )


def call(action: str) -> Envelope:
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload={},
        chargepoint_id=f"CP-DSP-{uuid.uuid4().hex[:8]}",
        ocpp_version="ocpp1.6",
        unique_id=uuid.uuid4().hex[:10],
        correlation_id=uuid.uuid4().hex,
    )


async def logged(sql: Sql, env: Envelope) -> list[tuple[str, int, str | None]]:
    rows = await sql(
        "SELECT direction, message_type, error_code FROM ocpp_message"
        " WHERE message_id = :m ORDER BY direction",
        m=env.correlation_id,
    )
    return [(r["direction"], r["message_type"], r["error_code"]) for r in rows]


async def test_refused_fire_and_forget_logs_the_fixed_answer_the_gateway_sent(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    """The gateway answered the Heartbeat itself before any handler ran: the log shows that
    CALLRESULT, not a CALLERROR that never went on the wire. The refusal is still the
    delivery's outcome (the consumer dead-letters it: no reply_to)."""
    env = call("Heartbeat")
    [outcome] = await dispatcher(db_sessionmaker, Route(UPSTREAM, FIRE, refuse, NoFields))(
        [FakeDelivery(env, FIRE)]
    )
    assert isinstance(outcome, Envelope) and outcome.kind is Kind.ERROR
    assert outcome.error_code == "FormationViolation"
    assert await logged(sql, env) == [("in", CALL, None), ("out", CALLRESULT, None)]


async def test_refused_rpc_logs_the_callerror_it_answers(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    env = call("Authorize")
    [outcome] = await dispatcher(db_sessionmaker, Route(UPSTREAM, RPC, refuse, NoFields, rpc=True))(
        [FakeDelivery(env, RPC)]
    )
    assert isinstance(outcome, Envelope) and outcome.kind is Kind.ERROR
    assert await logged(sql, env) == [
        ("in", CALL, None),
        ("out", CALLERROR, "FormationViolation"),
    ]


async def test_data_error_is_a_reject_with_the_database_message(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Postgres refusing a value (class 22) fails the same way every time: not a Retry, not
    a plain failure to requeue, but Reject(reason="data-error") with SQLSTATE and message
    (not the statement and its parameters)."""
    env = call("Heartbeat")
    with pytest.raises(Reject) as raised:
        await dispatcher(db_sessionmaker, Route(UPSTREAM, FIRE, overflow, NoFields))(
            [FakeDelivery(env, FIRE)]
        )
    assert raised.value.reason == DATA_ERROR
    assert raised.value.detail.startswith("SQLSTATE 22003: ")
    assert "out of range" in raised.value.detail
    assert "SELECT" not in raised.value.detail
