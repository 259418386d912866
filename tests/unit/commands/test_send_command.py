"""send_command's four outcomes against a fake bus (it publishes no event: the sender commits
the outcome first, shared/command_outbox.py), and the `command.completed` payload of a
completed command log row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from services.api.commands.service import log_values
from shared.bus.errors import PublishFailed, RpcTimeout, Unroutable
from shared.bus.topology import DOWNSTREAM
from shared.command_outbox import completed_event
from shared.commands import (
    COMMAND_COMPLETED,
    RPC_MARGIN,
    CallError,
    NotConnected,
    Refused,
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
    published: list[Envelope] = field(default_factory=list)

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

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        self.published.append(envelope)


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
    # No event before the sender has committed the outcome.
    assert bus.published == []


async def test_call_error() -> None:
    bus = FakeBus(lambda env: env.error("NotSupported", "no", {"a": 1}))
    outcome = await send(bus)
    assert outcome == CallError("NotSupported", "no", {"a": 1})


async def test_a_chargepoint_callerror_is_its_answer_whatever_its_code() -> None:
    """A charge point answering `NotConnected` or `RequestInvalid` did answer."""
    for code in ("NotConnected", "Timeout", "RequestInvalid"):
        outcome = await send(FakeBus(lambda env, c=code: env.error(c, "x", source="chargepoint")))
        assert outcome == CallError(code, "x")


@pytest.mark.parametrize("code", ["RequestInvalid", "UnsupportedForVersion", "GatewayError"])
async def test_gateway_refusals(code: str) -> None:
    bus = FakeBus(lambda env: env.error(code, "not sent", {"path": "p"}, source="gateway"))
    outcome = await send(bus)
    assert outcome == Refused(code, "not sent", {"path": "p"})
    assert outcome.outcome == "refused"


async def test_gateway_invalid_answer_is_a_gateway_call_error() -> None:
    bus = FakeBus(lambda env: env.error("AnswerInvalid", "bad", {"payload": {}}, source="gateway"))
    outcome = await send(bus)
    assert outcome == CallError("AnswerInvalid", "bad", {"payload": {}}, source="gateway")


async def test_version_travels_in_the_envelope() -> None:
    bus = FakeBus(lambda env: env.result({}))
    await send_command(
        bus,
        chargepoint_id="CP",
        action="Reset",
        payload={"type": "Immediate"},
        timeout=1,
        ocpp_version="ocpp2.0.1",
    )
    assert bus.calls[0][2].ocpp_version == "ocpp2.0.1"


async def test_unroutable_is_not_connected() -> None:
    bus = FakeBus(Unroutable(DOWNSTREAM, "CP-1"))
    outcome = await send(bus)
    assert isinstance(outcome, NotConnected)


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


async def test_broker_failure_raises() -> None:
    with pytest.raises(PublishFailed):
        await send(FakeBus(PublishFailed("nack")))


async def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        await send_command(
            FakeBus(RpcTimeout("x")), chargepoint_id="CP", action="Reset", payload={}, timeout=0
        )


def row(**values: object) -> dict[str, object]:
    """A completed command log row (`values` hold at least its outcome)."""
    return {
        "id": uuid.UUID(int=7),
        "chargepoint_id": "CP-1",
        "action": "Reset",
        "request": {"type": "Soft"},
        "response": None,
        "error_code": None,
        "error_description": None,
        "seq": 4,
        **values,
    }


@pytest.mark.parametrize(
    ("values", "response", "error"),
    [
        (row(outcome="result", response={"status": "Accepted"}), {"status": "Accepted"}, None),
        (
            row(**log_values(CallError("NotSupported", "no", {"a": 1}))),
            None,
            {"code": "NotSupported", "description": "no", "details": {"a": 1}},
        ),
        (
            row(**log_values(NotConnected("CP-1 is not connected"))),
            None,
            {"code": "NotConnected", "description": "CP-1 is not connected", "details": {}},
        ),
        (
            row(**log_values(TimedOut("late"))),
            None,
            {"code": "Timeout", "description": "late", "details": {}},
        ),
        (
            row(
                **log_values(Refused("RequestInvalid", "bad", {"path": "payload.type"})),
                ocpp_version="ocpp2.0.1",
            ),
            None,
            {"code": "RequestInvalid", "description": "bad", "details": {"path": "payload.type"}},
        ),
        (
            row(outcome="lost", error_code="Lost", error_description="gone"),
            None,
            {"code": "Lost", "description": "gone", "details": {}},
        ),
    ],
)
def test_completed_event_of_a_log_row(
    values: dict[str, object], response: object, error: object
) -> None:
    event = completed_event(values)
    assert event.action == COMMAND_COMPLETED and event.kind is Kind.EVENT
    assert event.correlation_id == uuid.UUID(int=7).hex == event.unique_id
    assert event.chargepoint_id == "CP-1"
    assert event.payload == {
        "correlation_id": uuid.UUID(int=7).hex,
        "chargepoint_id": "CP-1",
        "action": "Reset",
        "request": {"type": "Soft"},
        "outcome": values["outcome"],
        "response": response,
        "error": error,
        "seq": 4,
        "ocpp_version": values.get("ocpp_version"),
    }
