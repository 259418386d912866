"""Registry handlers that need no database: DataTransfer answers, frame log rows, clipping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.handlers import gateway_events
from services.registry.handlers.v16 import data_transfer, status_notification
from services.registry.queries import chargepoint_table, clip_row
from services.registry.routes import ROUTER
from shared.dispatch import HandlerContext, Payload, UnitOfWork
from shared.envelope import Envelope, Kind
from shared.messages import GatewayFrameLog
from shared.ocpp import format_datetime
from shared.settings import Settings
from tests.factories import handle

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class NoSession:
    """Fails the test if a handler touches the database."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected database use: session.{name}")


def context() -> HandlerContext:
    return HandlerContext(cast(AsyncSession, NoSession()), Settings(), UnitOfWork(), NOW)


def rows(ctx: HandlerContext, table_name: str) -> list[dict[str, Any]]:
    return [r for t, rs in ctx.uow.rows.items() if t.name == table_name for r in rs]


def call(action: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id="CP-1",
        ocpp_version="ocpp1.6",
        unique_id="u-1",
        correlation_id="c" * 32,
        created_at=NOW,
    )


@pytest.fixture
def vendor() -> Iterator[str]:
    async def acme(
        ctx: HandlerContext, env: Envelope, req: data_transfer.DataTransferRequest
    ) -> Payload:
        return {"status": "Accepted", "data": str(req.data or "").upper()}

    data_transfer.register_vendor("com.acme", acme)
    yield "com.acme"
    data_transfer.unregister_vendor("com.acme")


async def test_data_transfer_of_unknown_vendor() -> None:
    ctx = context()
    answer = await handle(ROUTER, ctx, call("DataTransfer", {"vendorId": "x", "data": "d"}))
    assert answer == {"status": "UnknownVendorId"}
    [row] = rows(ctx, "data_transfer")
    assert row["vendor_id"] == "x"
    assert row["data"] == "d"
    assert row["direction"] == "in"
    assert row["message_id"] == "c" * 32


async def test_data_transfer_to_registered_vendor(vendor: str) -> None:
    ctx = context()
    env = call("DataTransfer", {"vendorId": vendor, "messageId": "m", "data": "hi"})
    assert await handle(ROUTER, ctx, env) == {"status": "Accepted", "data": "HI"}
    assert rows(ctx, "data_transfer")[0]["data_message_id"] == "m"


async def test_data_transfer_keeps_non_string_data_serialised() -> None:
    """2.0.1 data is anyType (1.6: a string, refused otherwise)."""
    ctx = context()
    env = call("DataTransfer", {"vendorId": "x", "data": {"a": 1}})
    env = env.model_copy(update={"ocpp_version": "ocpp2.0.1"})
    await handle(ROUTER, ctx, env)
    assert rows(ctx, "data_transfer")[0]["data"] == '{"a":1}'


def key_of(env: Envelope) -> str:
    return gateway_events.frame_log_key(env, GatewayFrameLog.model_validate(env.payload))


def frame_log_event(**payload: Any) -> Envelope:
    return Envelope(
        kind=Kind.EVENT,
        action="gateway.frame_log",
        payload=payload,
        chargepoint_id="CP-1",
        ocpp_version="ocpp1.6",
        unique_id="u-9",
        node_id="node-a",
        created_at=NOW,
    )


async def test_frame_log_of_refused_call_writes_call_and_callerror() -> None:
    ctx = context()
    frame = orjson.dumps([2, "u-9", "Heartbeat", {"x": 1}]).decode()
    answer = orjson.dumps([4, "u-9", "PropertyConstraintViolation", "bad", {"f": "x"}]).decode()
    env = frame_log_event(
        direction="in",
        action="Heartbeat",
        frame=frame,
        truncated=False,
        error_code="PropertyConstraintViolation",
        error_description="bad",
        answer=answer,
    )
    await handle(ROUTER, ctx, env)
    call_row, error_row = rows(ctx, "ocpp_message")
    assert call_row["message_type"] == 2
    assert call_row["payload"] == {"x": 1}
    assert call_row["direction"] == "in"
    assert error_row["message_type"] == 4
    assert error_row["direction"] == "out"
    assert error_row["error_code"] == "PropertyConstraintViolation"
    assert error_row["payload"] == {"f": "x"}
    assert call_row["message_id"] == error_row["message_id"] == key_of(env)
    assert len(call_row["message_id"]) == 64


async def test_frame_log_of_garbage_keeps_the_raw_text() -> None:
    ctx = context()
    env = frame_log_event(
        direction="in",
        action=None,
        frame="not json",
        truncated=False,
        error_code="FormationViolation",
        error_description="not JSON",
        answer=orjson.dumps([4, "", "FormationViolation", "not JSON", {}]).decode(),
    )
    await handle(ROUTER, ctx, env)
    in_row, out_row = rows(ctx, "ocpp_message")
    assert in_row["payload"] == {"frame": "not json", "truncated": False}
    assert in_row["message_type"] == 2
    assert in_row["error_code"] == "FormationViolation"
    assert out_row["error_code"] == "FormationViolation"


async def test_frame_log_of_a_dropped_result_has_no_answer_row() -> None:
    ctx = context()
    env = frame_log_event(
        direction="in",
        action=None,
        frame='[3, "u-9"]',
        error_code="FormationViolation",
        error_description="short",
        answer=None,
    )
    await handle(ROUTER, ctx, env)
    [row] = rows(ctx, "ocpp_message")
    assert row["message_type"] == 3


def test_frame_log_key_is_stable_across_a_redelivery() -> None:
    env = frame_log_event(direction="in", frame="x")
    again = Envelope.from_bytes(env.to_bytes())
    assert key_of(env) == key_of(again)
    other = frame_log_event(direction="in", frame="y")
    assert key_of(env) != key_of(other)


def test_clip_row_cuts_strings_to_column_length() -> None:
    row = clip_row(
        chargepoint_table,
        {"chargepoint_model": "M" * 40, "firmware_version": "1.0", "websocket_port": 1234},
    )
    assert row == {"chargepoint_model": "M" * 20, "firmware_version": "1.0", "websocket_port": 1234}


def test_format_datetime_is_the_ocpp_form() -> None:
    assert format_datetime(NOW) == "2024-05-01T12:00:00.000Z"


@pytest.mark.parametrize(
    ("availability", "status", "resolved"),
    [
        ("Scheduled", "Unavailable", "Inoperative"),
        ("Scheduled", "Available", "Operative"),
        ("Scheduled", "Charging", None),
        ("Scheduled", "Finishing", None),
        ("Scheduled", "Faulted", None),
        ("Operative", "Unavailable", None),
        ("Inoperative", "Available", None),
    ],
)
def test_scheduled_availability_resolves_by_the_reported_status(
    availability: str, status: str, resolved: str | None
) -> None:
    assert status_notification.resolved_availability(availability, status) == resolved
