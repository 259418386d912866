"""send_command over the real broker, against a fake gateway node on `ocpp.downstream`."""

from __future__ import annotations

import uuid

import pytest

from shared.bus import Bus
from shared.commands import (
    RPC_MARGIN,
    CallError,
    NotConnected,
    Result,
    TimedOut,
    send_command,
)
from shared.envelope import Kind
from tests.patience import PATIENCE

from .conftest import FakeGateway

pytestmark = pytest.mark.integration


async def test_result_reaches_the_node_holding_the_id(
    bus: Bus, gateway: FakeGateway, cp: str
) -> None:
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    correlation_id = uuid.uuid4().hex
    outcome = await send_command(
        bus,
        chargepoint_id=cp,
        action="Reset",
        payload={"type": "Hard"},
        timeout=PATIENCE,
        correlation_id=correlation_id,
    )
    assert outcome == Result({"status": "Accepted"})
    [got] = gateway.received
    assert got.routing_key == cp
    assert got.envelope.kind is Kind.CALL and got.envelope.action == "Reset"
    assert got.envelope.payload == {"type": "Hard"}
    assert got.envelope.chargepoint_id == cp and got.envelope.correlation_id == correlation_id
    assert got.reply_to is not None
    assert got.expiration == pytest.approx(PATIENCE + RPC_MARGIN)  # the TTL


async def test_call_error(bus: Bus, gateway: FakeGateway, cp: str) -> None:
    await gateway.hold(cp, lambda env: env.error("NotImplemented", "unknown action", {"x": 1}))
    outcome = await send_command(
        bus,
        chargepoint_id=cp,
        action="ClearCache",
        payload={},
        timeout=PATIENCE,
        correlation_id="e1",
    )
    assert outcome == CallError("NotImplemented", "unknown action", {"x": 1})


async def test_unroutable_is_not_connected_at_once(bus: Bus, cp: str) -> None:
    # "At once": from the unroutable publish, never by waiting out the (long) timeout, which
    # would be TimedOut instead.
    outcome = await send_command(
        bus, chargepoint_id=cp, action="Reset", payload={"type": "Soft"}, timeout=PATIENCE
    )
    assert isinstance(outcome, NotConnected)


async def test_gateway_not_connected_and_timeout_replies(
    bus: Bus, gateway: FakeGateway, cp: str
) -> None:
    await gateway.hold(cp, lambda env: env.error("NotConnected", f"{cp} disconnected"))
    outcome = await send_command(
        bus, chargepoint_id=cp, action="Reset", payload={"type": "Soft"}, timeout=PATIENCE
    )
    assert outcome == NotConnected(f"{cp} disconnected")
    gateway.answers[cp] = lambda env: env.error("Timeout", "no answer within 2.0s")
    outcome = await send_command(
        bus, chargepoint_id=cp, action="Reset", payload={"type": "Soft"}, timeout=PATIENCE
    )
    assert outcome == TimedOut("no answer within 2.0s")


async def test_no_reply_times_out(bus: Bus, gateway: FakeGateway, cp: str) -> None:
    await gateway.hold(cp, lambda env: None)  # the node never answers
    outcome = await send_command(
        bus,
        chargepoint_id=cp,
        action="Reset",
        payload={"type": "Soft"},
        timeout=0.3,
        correlation_id="t1",
    )
    assert isinstance(outcome, TimedOut)
