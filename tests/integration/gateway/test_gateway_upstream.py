"""Charge point -> CSMS through a real gateway and RabbitMQ, with a fake service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from shared.bus import GATEWAY_CONNECTED, GATEWAY_DISCONNECTED, GATEWAY_FRAME_LOG
from tests.integration.gateway.conftest import SHORT_TIMEOUT, FakeService, Gateway
from tests.patience import PATIENCE, eventually

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]


async def exchange(ws: ClientConnection, frame: Any) -> list[Any]:
    """Send a raw frame (text as is, anything else as JSON) and read the answer."""
    await ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
    answer: list[Any] = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
    return answer


async def test_boot_round_trip_with_the_ocpp_library(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}boot"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        assert ws.subprotocol == "ocpp1.6"
        cp = ChargePoint(cp_id, ws, response_timeout=PATIENCE)
        runner = asyncio.create_task(cp.start())
        try:
            result = await cp.call(
                call.BootNotification(charge_point_vendor="ACME", charge_point_model="X1"),
                suppress=False,
            )
            assert result.status == "Accepted"
            assert result.interval == 300
            beat = await cp.call(call.Heartbeat(), suppress=False)
            assert beat.current_time.endswith("Z")
        finally:
            runner.cancel()
    [boot] = service.of(cp_id, "BootNotification")
    assert boot.payload == {"chargePointVendor": "ACME", "chargePointModel": "X1"}
    assert boot.ocpp_version == "ocpp1.6"
    assert boot.node_id == gateway.node_id
    assert boot.unique_id and boot.correlation_id and len(boot.correlation_id) == 32
    # Heartbeat is answered only after the broker confirmed it: the service has it.
    assert len(service.of(cp_id, "Heartbeat")) == 1
    await eventually(lambda: bool(service.of(cp_id, GATEWAY_DISCONNECTED)))
    [connected] = service.of(cp_id, GATEWAY_CONNECTED)
    assert connected.payload["remote_ip"] == "127.0.0.1"
    assert connected.payload["remote_port"] > 0
    assert connected.payload["node_id"] == gateway.node_id
    assert connected.payload["subprotocol"] == "ocpp1.6"


BAD_FRAMES = [
    ("not json", "-1", "FormationViolation"),
    ('{"a": 1}', "-1", "FormationViolation"),
    ('[2,"b1","Heartbeat"]', "b1", "FormationViolation"),
    ('[9,"b2","Heartbeat",{}]', "b2", "FormationViolation"),
    ('[2,17,"Heartbeat",{}]', "-1", "FormationViolation"),
    ('[2,"' + "x" * 37 + '","Heartbeat",{}]', "x" * 37, "FormationViolation"),
    ('[2,"b3",42,{}]', "b3", "FormationViolation"),
    ('[2,"b4","Heartbeat",[]]', "b4", "FormationViolation"),
    ('[2,"b5","FlyToTheMoon",{}]', "b5", "NotImplemented"),
    ('[2,"b6","Reset",{"type":"Hard"}]', "b6", "NotSupported"),
    ('[2,"b7","Heartbeat",{"extra":1}]', "b7", "OccurenceConstraintViolation"),
    ('[2,"b8","BootNotification",{"chargePointVendor":"A"}]', "b8", "OccurenceConstraintViolation"),
    (
        '[2,"b9","BootNotification",{"chargePointVendor":1,"chargePointModel":"M"}]',
        "b9",
        "TypeConstraintViolation",
    ),
    (
        '[2,"b10","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Nope"}]',
        "b10",
        "PropertyConstraintViolation",
    ),
]


async def test_every_bad_frame_gets_its_callerror_and_the_socket_survives(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}bad"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        for i, (raw, uid, code) in enumerate(BAD_FRAMES):
            answer = await exchange(ws, raw)
            assert answer[:3] == [4, uid, code], raw
            assert isinstance(answer[3], str) and isinstance(answer[4], dict)
            ok = await exchange(ws, [2, f"hb-{i}", "Heartbeat", {}])
            assert ok[0] == 3 and ok[1] == f"hb-{i}" and ok[2]["currentTime"].endswith("Z")
    # Each refusal is published for the message log.
    await eventually(lambda: len(service.of(cp_id, GATEWAY_FRAME_LOG)) == len(BAD_FRAMES))
    logged = {e.payload["frame"]: e.payload for e in service.of(cp_id, GATEWAY_FRAME_LOG)}
    assert logged["not json"]["error_code"] == "FormationViolation"
    assert logged["not json"]["direction"] == "in"


async def test_calls_are_answered_in_order_when_sent_back_to_back(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}order"
    service.delays["Authorize"] = 0.3
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await ws.send(orjson.dumps([2, "first", "Authorize", {"idTag": "TAG1"}]).decode())
        await ws.send(orjson.dumps([2, "second", "Heartbeat", {}]).decode())
        first = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
        second = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
    assert first == [3, "first", {"idTagInfo": {"status": "Accepted"}}]
    assert second[:2] == [3, "second"]


async def test_upstream_timeout_is_an_internal_error(
    gateway_factory: Callable[..., Any], service: FakeService, prefix: str
) -> None:
    """The service never answers; the gateway's (short) upstream call timeout expires."""
    gateway: Gateway = await gateway_factory(upstream_timeout=SHORT_TIMEOUT)
    cp_id = f"{prefix}silent"
    service.silent.add(cp_id)
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        answer = await exchange(
            ws, [2, "t1", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "M"}]
        )
        assert answer[:3] == [4, "t1", "InternalError"]
        assert service.of(cp_id, "BootNotification")  # it was asked, and said nothing
        assert (await exchange(ws, [2, "t2", "Heartbeat", {}]))[:2] == [3, "t2"]


async def test_an_invalid_service_answer_is_not_forwarded(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}invalid"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        answer = await exchange(ws, [2, "d1", "DataTransfer", {"vendorId": "ACME"}])
        assert answer[:3] == [4, "d1", "InternalError"]


async def test_service_error_is_forwarded_with_its_code(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}svcerr"
    del service.answers["Authorize"]  # the fake answers NotSupported
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        answer = await exchange(ws, [2, "a1", "Authorize", {"idTag": "X"}])
        assert answer[:3] == [4, "a1", "NotSupported"]


async def test_unsupported_subprotocols_are_refused_with_400(gateway: Gateway) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            gateway.url("GW-proto"), subprotocols=[Subprotocol("ocpp9.9"), Subprotocol("ocpp1.5")]
        ):
            pass
    assert info.value.response.status_code == 400
    assert b"ocpp1.6, ocpp2.0.1" in info.value.response.body


@pytest.mark.parametrize(
    "path", ["/ocpp/", "/ocpp/bad%20id", "/ocpp/a%2Fb", "/ocpp/%00x", "/" + "x" * 256]
)
async def test_bad_chargepoint_id_is_refused_with_400(gateway: Gateway, path: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{gateway.port}{path}", subprotocols=OCPP16):
            pass
    assert info.value.response.status_code == 400


async def test_id_directly_under_root_and_url_decoded(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    async with connect(
        f"ws://127.0.0.1:{gateway.port}/{prefix}r%C3%A9f", subprotocols=OCPP16
    ) as ws:
        assert (await exchange(ws, [2, "h", "Heartbeat", {}]))[:2] == [3, "h"]
    # The gateway answers a Heartbeat itself once the broker confirmed it: the service may
    # get it a moment later.
    await eventually(lambda: bool(service.of(f"{prefix}réf", "Heartbeat")))


async def _http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), PATIENCE)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_health_endpoints(gateway: Gateway) -> None:
    assert await _http_get(gateway.port, "/healthz") == (200, b"ok\n")
    assert (await _http_get(gateway.port, "/readyz"))[0] == 200
    status, body = await _http_get(gateway.port, "/metrics")
    assert status == 200 and b"connected_chargepoints" in body
