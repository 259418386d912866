"""CSMS -> charge point commands routed to the gateway node holding the socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from shared.bus import DOWNSTREAM, Bus, Unroutable
from shared.envelope import Envelope, Kind
from tests.integration.gateway.conftest import SHORT_TIMEOUT, FakeService, Gateway
from tests.patience import PATIENCE, eventually

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]


def command(cp_id: str, action: str, **payload: Any) -> Envelope:
    return Envelope(kind=Kind.CALL, action=action, payload=payload, chargepoint_id=cp_id)


async def send(
    bus: Bus, cp_id: str, action: str, timeout: float = PATIENCE, **payload: Any
) -> Envelope:
    return await bus.rpc(DOWNSTREAM, cp_id, command(cp_id, action, **payload), timeout=timeout)


class ResettableChargePoint(ChargePoint):  # type: ignore[misc]
    resets: list[str]

    @on(Action.reset)
    async def on_reset(self, type: str) -> Any:  # the OCPP field name
        self.resets.append(type)
        return call_result.Reset(status="Accepted")


async def attached(gateway: Gateway, cp_id: str) -> None:
    """The gateway binds the id just after the handshake; wait for it."""
    await eventually(lambda: gateway.downstream.routable(cp_id))


async def recv_json(ws: ClientConnection) -> list[Any]:
    frame: list[Any] = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
    return frame


async def test_reset_reaches_the_library_charge_point_and_its_answer_comes_back(
    gateway: Gateway, service: FakeService, commander: Bus, prefix: str
) -> None:
    cp_id = f"{prefix}reset"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await attached(gateway, cp_id)
        cp = ResettableChargePoint(cp_id, ws)
        cp.resets = []
        runner = asyncio.create_task(cp.start())
        try:
            reply = await send(commander, cp_id, "Reset", type="Soft")
        finally:
            runner.cancel()
    assert reply.kind is Kind.RESULT
    assert reply.payload == {"status": "Accepted"}
    assert cp.resets == ["Soft"]


async def test_unconnected_chargepoint_is_unroutable_at_once(
    gateway: Gateway, commander: Bus, prefix: str
) -> None:
    # At once: the publish is unroutable (waiting out the timeout would be RpcTimeout).
    with pytest.raises(Unroutable):
        await send(commander, f"{prefix}nobody", "Reset", type="Hard")


async def test_callerror_and_invalid_command(
    gateway: Gateway, service: FakeService, commander: Bus, prefix: str
) -> None:
    cp_id = f"{prefix}raw"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await attached(gateway, cp_id)
        # invalid request: refused by the gateway itself, without being sent
        bad = await send(commander, cp_id, "Reset", type="Sideways")
        assert (bad.kind, bad.error_code, bad.error_source) == (
            Kind.ERROR,
            "RequestInvalid",
            "gateway",
        )
        assert (bad.error_details or {})["ocpp_code"] == "PropertyConstraintViolation"
        assert (bad.error_details or {})["path"] == "payload.type"
        bad = await send(commander, cp_id, "BootNotification", chargePointVendor="A")
        assert (bad.kind, bad.error_code, bad.error_source) == (
            Kind.ERROR,
            "UnsupportedForVersion",
            "gateway",
        )
        # routed for another version than the connection speaks: refused, not sent
        routed = Envelope(
            kind=Kind.CALL,
            action="Reset",
            payload={"type": "Immediate"},
            chargepoint_id=cp_id,
            ocpp_version="ocpp2.0.1",
        )
        bad = await commander.rpc(DOWNSTREAM, cp_id, routed, timeout=PATIENCE)
        assert (bad.error_code, bad.error_source) == ("UnsupportedForVersion", "gateway")
        assert (bad.error_details or {}) == {"ocpp_version": "ocpp1.6"}
        # the charge point answers with a CALLERROR
        pending = asyncio.create_task(send(commander, cp_id, "UnlockConnector", connectorId=1))
        frame = await recv_json(ws)
        assert frame[0] == 2 and frame[2] == "UnlockConnector" and frame[3] == {"connectorId": 1}
        await ws.send(orjson.dumps([4, frame[1], "NotSupported", "no lock here", {}]).decode())
        reply = await pending
        assert (reply.kind, reply.error_code, reply.error_description) == (
            Kind.ERROR,
            "NotSupported",
            "no lock here",
        )
        assert reply.error_source == "chargepoint"
        # an answer the schema refuses: the gateway says so (AnswerInvalid), with the payload
        pending = asyncio.create_task(send(commander, cp_id, "UnlockConnector", connectorId=1))
        frame = await recv_json(ws)
        await ws.send(orjson.dumps([3, frame[1], {"status": "Maybe"}]).decode())
        reply = await pending
        assert (reply.error_code, reply.error_source) == ("AnswerInvalid", "gateway")
        assert (reply.error_details or {})["payload"] == {"status": "Maybe"}


async def test_201_command_reaches_a_201_connection(
    gateway: Gateway, service: FakeService, commander: Bus, prefix: str
) -> None:
    cp_id = f"{prefix}v201"
    async with connect(gateway.url(cp_id), subprotocols=[Subprotocol("ocpp2.0.1")]) as ws:
        await attached(gateway, cp_id)
        routed = Envelope(
            kind=Kind.CALL,
            action="RequestStartTransaction",
            payload={"idToken": {"idToken": "T", "type": "Central"}, "remoteStartId": 5},
            chargepoint_id=cp_id,
            ocpp_version="ocpp2.0.1",
        )
        pending = asyncio.create_task(commander.rpc(DOWNSTREAM, cp_id, routed, timeout=PATIENCE))
        frame = await recv_json(ws)
        assert frame[2:] == ["RequestStartTransaction", routed.payload]
        await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        reply = await pending
        assert (reply.kind, reply.payload) == (Kind.RESULT, {"status": "Accepted"})
        # a 1.6 command to a 2.0.1 connection
        bad = await send(commander, cp_id, "RemoteStartTransaction", idTag="T")
        assert (bad.error_code, bad.error_source) == ("UnsupportedForVersion", "gateway")


async def test_a_silent_charge_point_times_out_and_its_late_answer_is_dropped(
    gateway_factory: Callable[..., Any], service: FakeService, commander: Bus, prefix: str
) -> None:
    """The charge point does not answer; the gateway's (short) command timeout expires."""
    gateway: Gateway = await gateway_factory(command_timeout=SHORT_TIMEOUT)
    cp_id = f"{prefix}silent"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await attached(gateway, cp_id)
        pending = asyncio.create_task(send(commander, cp_id, "ClearCache"))
        frame = await recv_json(ws)
        assert frame[0] == 2 and frame[2] == "ClearCache"
        reply = await pending  # the commander waits PATIENCE: the gateway's timeout answers
        assert (reply.kind, reply.error_code) == (Kind.ERROR, "Timeout")
        # a late answer is dropped...
        await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        # the connection is still usable
        await ws.send(orjson.dumps([2, "h1", "Heartbeat", {}]).decode())
        assert (await recv_json(ws))[:2] == [3, "h1"]


async def test_a_call_from_the_charge_point_is_answered_while_ours_is_outstanding(
    gateway: Gateway, service: FakeService, commander: Bus, prefix: str
) -> None:
    cp_id = f"{prefix}cross"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await attached(gateway, cp_id)
        pending = asyncio.create_task(send(commander, cp_id, "Reset", type="Hard"))
        ours = await recv_json(ws)
        assert ours[2] == "Reset"
        # Before answering our Reset the charge point sends its own CALLs.
        await ws.send(orjson.dumps([2, "s1", "Authorize", {"idTag": "T"}]).decode())
        assert await recv_json(ws) == [3, "s1", {"idTagInfo": {"status": "Accepted"}}]
        # ...and a second command waits for the first one (one outstanding CALL at a time).
        second = asyncio.create_task(send(commander, cp_id, "ClearCache"))
        await asyncio.sleep(0.3)
        await ws.send(orjson.dumps([3, ours[1], {"status": "Accepted"}]).decode())
        assert (await pending).payload == {"status": "Accepted"}
        queued = await recv_json(ws)
        assert queued[2] == "ClearCache"
        await ws.send(orjson.dumps([3, queued[1], {"status": "Accepted"}]).decode())
        assert (await second).payload == {"status": "Accepted"}


async def test_second_connection_with_the_same_id_wins(
    gateway: Gateway, service: FakeService, commander: Bus, prefix: str
) -> None:
    cp_id = f"{prefix}twice"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as first:
        await attached(gateway, cp_id)
        async with connect(gateway.url(cp_id), subprotocols=OCPP16) as second:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), PATIENCE)
            assert first.close_code == 4000
            await attached(gateway, cp_id)
            pending = asyncio.create_task(send(commander, cp_id, "ClearCache"))
            frame = await recv_json(second)
            await second.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
            assert (await pending).kind is Kind.RESULT
    await eventually(lambda: cp_id not in gateway.downstream.connections)
    with pytest.raises(Unroutable):
        await send(commander, cp_id, "ClearCache")


async def test_reconnect_to_another_node_takes_over(
    gateway_factory: Callable[[], Any], service: FakeService, commander: Bus, prefix: str
) -> None:
    node_a: Gateway = await gateway_factory()
    node_b: Gateway = await gateway_factory()
    cp_id = f"{prefix}moved"
    async with connect(node_a.url(cp_id), subprotocols=OCPP16) as old:
        await attached(node_a, cp_id)
        async with connect(node_b.url(cp_id), subprotocols=OCPP16) as new:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(old.recv(), PATIENCE)
            assert old.close_code == 4000
            assert cp_id not in node_a.downstream.connections
            await attached(node_b, cp_id)
            # Commands reach only the new socket, on node B.
            for _ in range(3):
                pending = asyncio.create_task(send(commander, cp_id, "ClearCache"))
                frame = await recv_json(new)
                await new.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
                assert (await pending).payload == {"status": "Accepted"}
