"""The envelope's correlation id is the message key of what the charge point sent, and a unique
id in flight on a connection is refused (issue 10, defect 1), through a real gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from shared.envelope import message_key
from tests.integration.gateway.conftest import FakeService, Gateway
from tests.integration.gateway.test_gateway_upstream import exchange
from tests.patience import PATIENCE, eventually

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]
OCPP201 = [Subprotocol("ocpp2.0.1")]
METER = {
    "connectorId": 1,
    "transactionId": 5,
    "meterValue": [
        {"timestamp": "2024-05-01T12:00:00Z", "sampledValue": [{"value": "1200", "unit": "Wh"}]}
    ],
}


async def test_a_resent_call_has_the_same_correlation_id_on_any_connection_and_node(
    gateway_factory: Callable[..., Any], service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}resend"
    first, second = await gateway_factory(), await gateway_factory()
    frame = orjson.dumps([2, "42", "MeterValues", METER]).decode()
    # The same bytes, on a socket of each gateway node (as after a reconnect or a restart);
    # keys in another order are the same message too.
    reordered = (
        '[2,"42","MeterValues",' + orjson.dumps(dict(reversed(METER.items()))).decode() + "]"
    )
    for node, text in ((first, frame), (second, frame), (first, reordered)):
        async with connect(node.url(cp_id), subprotocols=OCPP16) as ws:
            assert (await exchange(ws, text))[:2] == [3, "42"]
    # An answer goes out once the broker confirmed the publish; the consumer may see it later.
    await eventually(lambda: len(service.of(cp_id, "MeterValues")) >= 3)
    published = service.of(cp_id, "MeterValues")
    assert len(published) == 3
    assert {e.node_id for e in published} == {first.node_id, second.node_id}
    assert {e.correlation_id for e in published} == {message_key(cp_id, "42", "MeterValues", METER)}


async def test_same_unique_id_with_another_payload_is_another_message(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    # A charger that restarted its unique-id counter: same id, new content.
    cp_id = f"{prefix}counter"
    later = orjson.loads(orjson.dumps(METER).replace(b"1200", b"1300"))
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        for payload in (METER, later):
            assert (await exchange(ws, [2, "1", "MeterValues", payload]))[:2] == [3, "1"]
    await eventually(lambda: len(service.of(cp_id, "MeterValues")) >= 2)
    keys = [e.correlation_id for e in service.of(cp_id, "MeterValues")]
    assert len(set(keys)) == 2
    # ... and another charge point's, or another action's, same id is not this one's.
    assert message_key(cp_id, "1", "MeterValues", METER) not in (
        message_key(f"{cp_id}x", "1", "MeterValues", METER),
        message_key(cp_id, "1", "MeterValue", METER),
        message_key(cp_id, "11", "MeterValues", METER),
    )


@pytest.mark.parametrize(
    ("subprotocols", "code"), [(OCPP16, "ProtocolError"), (OCPP201, "RpcFrameworkError")]
)
async def test_a_unique_id_being_answered_is_refused_at_once(
    gateway: Gateway,
    service: FakeService,
    prefix: str,
    subprotocols: list[Subprotocol],
    code: str,
) -> None:
    cp_id = f"{prefix}inflight"
    service.delays["BootNotification"] = 0.5
    boot = (
        {"chargePointVendor": "V", "chargePointModel": "M"}
        if subprotocols == OCPP16
        else {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
    )
    frame = orjson.dumps([2, "same", "BootNotification", boot]).decode()
    async with connect(gateway.url(cp_id), subprotocols=subprotocols) as ws:
        await ws.send(frame)
        await ws.send(frame)  # the first is still being answered (the service is slow)
        refused = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
        answered = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
        # Answered, the id is free again: a resend is processed (and deduplicated downstream).
        assert (await exchange(ws, frame))[:2] == [3, "same"]
    assert refused[:3] == [4, "same", code] and "already in use" in refused[3]
    assert answered[:2] == [3, "same"] and answered[2]["status"] == "Accepted"
    assert len(service.of(cp_id, "BootNotification")) == 2


async def test_a_unique_id_queued_behind_another_call_is_refused(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}queued"
    service.delays["Authorize"] = 0.5
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await ws.send(orjson.dumps([2, "a", "Authorize", {"idTag": "T"}]).decode())
        await ws.send('[2,"h","Heartbeat",{}]')  # queued behind the Authorize
        await ws.send('[2,"h","Heartbeat",{}]')  # same id while the first still waits
        answers = [orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE)) for _ in range(3)]
    assert answers[0][:3] == [4, "h", "ProtocolError"]
    assert [a[:2] for a in answers[1:]] == [[3, "a"], [3, "h"]]
    assert len(service.of(cp_id, "Heartbeat")) == 1
