"""send_command's four outcomes and its command.completed event, against a fake bus."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from shared.bus.errors import PublishFailed, RpcTimeout, Unroutable
from shared.bus.topology import DOWNSTREAM
from shared.commands import (
    COMMAND_COMPLETED,
    RPC_MARGIN,
    CallError,
    NotConnected,
    Result,
    TimedOut,
    send_command,
)
from shared.envelope import Envelope, Kind


@dataclass
class FakeBus:
    """Answers every rpc with `answer` (an Envelope builder or an exception)."""

    answer: object
    calls: list[tuple[str, str, Envelope, float, bool]] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)
    fail_events: bool = False

    async def rpc(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        timeout: float,
        mandatory: bool = True,
    ) -> Envelope:
        self.calls.append((exchange, routing_key, envelope, timeout, mandatory))
        if isinstance(self.answer, Exception):
            raise self.answer
        assert callable(self.answer)
        reply: Envelope = self.answer(envelope)
        return reply

    async def publish_event(self, envelope: Envelope) -> None:
        if self.fail_events:
            raise PublishFailed("broker down")
        self.events.append(envelope)


async def send(bus: FakeBus) -> object:
    return await send_command(
        bus,
        chargepoint_id="CP-1",
        action="Reset",
        payload={"type": "Soft"},
        timeout=2.0,
        correlation_id="c0ffee",
    )


async def test_result() -> None:
    bus = FakeBus(lambda env: env.result({"status": "Accepted"}))
    outcome = await send(bus)
    assert outcome == Result({"status": "Accepted"})
    exchange, key, envelope, timeout, mandatory = bus.calls[0]
    assert (exchange, key, mandatory) == (DOWNSTREAM, "CP-1", True)
    assert timeout == pytest.approx(2.0 + RPC_MARGIN)
    assert envelope.kind is Kind.CALL and envelope.action == "Reset"
    assert envelope.payload == {"type": "Soft"}
    assert envelope.chargepoint_id == "CP-1" and envelope.correlation_id == "c0ffee"
    [event] = bus.events
    assert event.action == COMMAND_COMPLETED and event.kind is Kind.EVENT
    assert event.correlation_id == "c0ffee"
    assert event.payload == {
        "correlation_id": "c0ffee",
        "chargepoint_id": "CP-1",
        "action": "Reset",
        "request": {"type": "Soft"},
        "outcome": "result",
        "response": {"status": "Accepted"},
        "error": None,
    }


async def test_call_error() -> None:
    bus = FakeBus(lambda env: env.error("NotSupported", "no", {"a": 1}))
    outcome = await send(bus)
    assert outcome == CallError("NotSupported", "no", {"a": 1})
    assert bus.events[0].payload["outcome"] == "error"
    assert bus.events[0].payload["error"] == {
        "code": "NotSupported",
        "description": "no",
        "details": {"a": 1},
    }


async def test_unroutable_is_not_connected() -> None:
    bus = FakeBus(Unroutable(DOWNSTREAM, "CP-1"))
    outcome = await send(bus)
    assert isinstance(outcome, NotConnected)
    assert bus.events[0].payload["outcome"] == "offline"


async def test_gateway_not_connected_reply() -> None:
    outcome = await send(FakeBus(lambda env: env.error("NotConnected", "CP-1 disconnected")))
    assert outcome == NotConnected("CP-1 disconnected")


async def test_gateway_timeout_reply() -> None:
    outcome = await send(FakeBus(lambda env: env.error("Timeout", "no answer")))
    assert outcome == TimedOut("no answer")


async def test_rpc_timeout() -> None:
    bus = FakeBus(RpcTimeout("late"))
    outcome = await send(bus)
    assert isinstance(outcome, TimedOut)
    assert bus.events[0].payload["outcome"] == "timeout"


async def test_event_failure_does_not_lose_the_outcome() -> None:
    bus = FakeBus(lambda env: env.result({"status": "Accepted"}), fail_events=True)
    assert await send(bus) == Result({"status": "Accepted"})


async def test_broker_failure_raises() -> None:
    with pytest.raises(PublishFailed):
        await send(FakeBus(PublishFailed("nack")))


async def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        await send_command(
            FakeBus(RpcTimeout("x")), chargepoint_id="CP", action="Reset", payload={}, timeout=0
        )
