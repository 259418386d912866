"""The dispatcher parses every payload into its route's model before any handler runs, and
refuses what does not parse there: nothing of it is ever written (issue 11), real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus import INVALID_PAYLOAD, Rejected
from shared.bus.topology import EVENTS, upstream_key
from shared.dispatch import Dispatcher, HandlerContext, Parsed, Route, Router, ocpp_route
from shared.envelope import Envelope, Kind
from shared.messagelog import CALL, CALLERROR, log_call_and_answer
from shared.messages import ConnectorStatusChanged
from shared.ocpp import OCPP16, OCPP201
from shared.ocpp.v16.authorize_request import AuthorizeRequest as Authorize16
from shared.ocpp.v201.authorize_request import AuthorizeRequest as Authorize201
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher, Sql

EVENT = "test.status_changed"


class Recorder:
    """Handlers that write a row per call (a `data_transfer` row: any table would do), and
    a `before_batch` step that records what it was given."""

    def __init__(self) -> None:
        self.handled: list[Any] = []
        self.locked: list[list[str]] = []

    async def write(self, ctx: HandlerContext, env: Envelope) -> None:
        await ctx.session.execute(
            text(
                "insert into data_transfer (chargepoint_id, vendor_id, direction, received_at,"
                " message_id) values (:cp, 'test', 'in', now(), :m)"
            ),
            {"cp": ctx.chargepoint_id, "m": env.correlation_id},
        )

    async def authorize16(self, ctx: HandlerContext, env: Envelope, req: Authorize16) -> Any:
        self.handled.append(req)
        await self.write(ctx, env)
        return {"idTagInfo": {"status": "Accepted"}}

    async def authorize201(self, ctx: HandlerContext, env: Envelope, req: Authorize201) -> Any:
        self.handled.append(req)
        await self.write(ctx, env)
        return {"idTokenInfo": {"status": "Accepted"}}

    async def status(self, ctx: HandlerContext, env: Envelope, req: ConnectorStatusChanged) -> None:
        self.handled.append(req)
        await self.write(ctx, env)

    async def before_batch(self, session: AsyncSession, batch: Sequence[Parsed[Any]]) -> None:
        self.locked.append([p.envelope.correlation_id or "" for p in batch])


def dispatcher(sessionmaker: async_sessionmaker[AsyncSession], recorder: Recorder) -> Dispatcher:
    router = Router(
        [
            ocpp_route(OCPP16, "Authorize", recorder.authorize16, Authorize16, rpc=True),
            ocpp_route(OCPP201, "Authorize", recorder.authorize201, Authorize201, rpc=True),
            Route(EVENTS, EVENT, recorder.status, ConnectorStatusChanged, log_message=False),
        ],
        before_batch=recorder.before_batch,
    )
    return Dispatcher(
        router=router,
        sessionmaker=sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
        log_writer=log_call_and_answer,
    )


def envelope(kind: Kind, action: str, payload: dict[str, Any], cp: str, version: str) -> Envelope:
    return Envelope(
        kind=kind,
        action=action,
        payload=payload,
        chargepoint_id=cp,
        ocpp_version=version,
        unique_id=uuid.uuid4().hex[:10],
        correlation_id=uuid.uuid4().hex,
    )


async def written(sql: Sql, cp: str) -> list[str]:
    rows = await sql("select message_id from data_transfer where chargepoint_id = :cp", cp=cp)
    return sorted(r["message_id"] for r in rows)


async def test_an_unparsable_call_is_answered_before_any_write(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    """In one batch with a good CALL: the bad one gets the version's CALLERROR, its handler
    never runs, the lock step never sees it, and nothing of it is stored but the message
    log of what went on the wire; the good one is handled and committed."""
    cp = f"CP-PARSE-{uuid.uuid4().hex[:8]}"
    await sql("insert into chargepoint (chargepoint_id) values (:cp)", cp=cp)
    recorder = Recorder()
    good = envelope(Kind.CALL, "Authorize", {"idTag": "OK"}, cp, OCPP16)
    bad16 = envelope(Kind.CALL, "Authorize", {"idTag": 5}, cp, OCPP16)
    bad201 = envelope(Kind.CALL, "Authorize", {"idToken": {"idToken": "X"}}, cp, OCPP201)
    key16, key201 = upstream_key(OCPP16, "Authorize"), upstream_key(OCPP201, "Authorize")
    outcomes = await dispatcher(db_sessionmaker, recorder)(
        [FakeDelivery(bad16, key16), FakeDelivery(good, key16), FakeDelivery(bad201, key201)]
    )
    refused16, answered, refused201 = outcomes
    assert isinstance(refused16, Envelope) and refused16.kind is Kind.ERROR
    assert refused16.error_code == "TypeConstraintViolation"
    assert (refused16.error_details or {})["path"] == "payload.idTag"
    assert isinstance(refused201, Envelope) and refused201.kind is Kind.ERROR
    assert refused201.error_code == "OccurrenceConstraintViolation"  # 2.0.1 spelling
    assert isinstance(answered, Envelope) and answered.kind is Kind.RESULT
    assert recorder.handled == [Authorize16(id_tag="OK")]
    assert recorder.locked == [[good.correlation_id]]
    assert await written(sql, cp) == [good.correlation_id]
    log = await sql(
        "select message_type, error_code from ocpp_message where message_id = :m"
        " order by message_type",
        m=bad16.correlation_id,
    )
    assert [(r["message_type"], r["error_code"]) for r in log] == [
        (CALL, None),
        (CALLERROR, "TypeConstraintViolation"),
    ]


async def test_an_unparsable_event_is_dead_lettered_before_any_write(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    """An event no charge point sent cannot be answered: it is `Rejected` with reason
    `invalid-payload` (the consumer dead-letters it); its batch goes on without it."""
    cp = f"CP-PARSE-{uuid.uuid4().hex[:8]}"
    await sql("insert into chargepoint (chargepoint_id) values (:cp)", cp=cp)
    recorder = Recorder()
    good = envelope(Kind.EVENT, EVENT, {"connectorId": 1, "status": "Available"}, cp, OCPP16)
    bad = envelope(Kind.EVENT, EVENT, {"connectorId": "one", "status": "Available"}, cp, OCPP16)
    nobody = good.model_copy(update={"chargepoint_id": None, "correlation_id": "x" * 32})
    outcomes = await dispatcher(db_sessionmaker, recorder)(
        [FakeDelivery(bad, EVENT), FakeDelivery(good, EVENT), FakeDelivery(nobody, EVENT)]
    )
    refused, handled, anonymous = outcomes
    assert isinstance(refused, Rejected) and refused.reason == INVALID_PAYLOAD
    assert "connectorId" in refused.detail
    assert handled is None
    assert isinstance(anonymous, Rejected) and "without chargepoint_id" in anonymous.detail
    assert [r.connector_id for r in recorder.handled] == [1]
    assert await written(sql, cp) == [good.correlation_id]
    assert await sql("select 1 from ocpp_message where chargepoint_id = :cp", cp=cp) == []
