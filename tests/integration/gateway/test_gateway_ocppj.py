"""OCPP-J details through a real gateway and RabbitMQ: handshake, binary frames, duplicate
keys, NUL characters, connectorId bounds (docs/gateway.md, issue 10 defects 2 and 11)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from shared.bus import GATEWAY_FRAME_LOG
from tests.integration.gateway.conftest import FakeService, Gateway
from tests.integration.gateway.test_gateway_upstream import exchange
from tests.patience import PATIENCE, eventually

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]
OCPP201 = [Subprotocol("ocpp2.0.1")]


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the gateway closes the socket; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), PATIENCE)
    return ws.close_code


# ---------------------------------------------------------------- handshake


async def test_no_subprotocol_header_is_served_as_ocpp16_by_default(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}noproto"
    async with connect(gateway.url(cp_id)) as ws:  # no Sec-WebSocket-Protocol at all
        assert ws.subprotocol is None  # we may not select one it did not offer
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
        assert (await exchange(ws, [2, "s1", "StatusNotification", status]))[:2] == [3, "s1"]
    [published] = service.of(cp_id, "StatusNotification")
    assert published.ocpp_version == "ocpp1.6"


async def test_the_default_version_is_a_setting(
    gateway_factory: Callable[..., Any], service: FakeService, prefix: str
) -> None:
    gateway = await gateway_factory(default_ocpp_version="ocpp2.0.1")
    cp_id = f"{prefix}noproto201"
    status = {"timestamp": now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    async with connect(gateway.url(cp_id)) as ws:
        assert (await exchange(ws, [2, "s1", "StatusNotification", status]))[:2] == [3, "s1"]
    [published] = service.of(cp_id, "StatusNotification")
    assert published.ocpp_version == "ocpp2.0.1"


async def test_no_subprotocol_header_is_refused_without_a_default(
    gateway_factory: Callable[..., Any], service: FakeService, prefix: str
) -> None:
    gateway = await gateway_factory(default_ocpp_version="")
    with pytest.raises(InvalidStatus) as info:
        async with connect(gateway.url(f"{prefix}noproto-refused")):
            pass
    assert info.value.response.status_code == 400
    assert b"no Sec-WebSocket-Protocol" in info.value.response.body
    # An offer we speak still works.
    async with connect(gateway.url(f"{prefix}proto-ok"), subprotocols=OCPP201) as ws:
        assert ws.subprotocol == "ocpp2.0.1"


async def test_the_first_supported_offer_wins_among_unknown_ones(gateway: Gateway) -> None:
    offers = [Subprotocol("ocpp2.1"), Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6")]
    async with connect(gateway.url("GW-offers"), subprotocols=offers) as ws:
        assert ws.subprotocol == "ocpp2.0.1"


# ---------------------------------------------------------------- binary frames


@pytest.mark.parametrize(
    ("subprotocols", "code"), [(OCPP16, "FormationViolation"), (OCPP201, "RpcFrameworkError")]
)
async def test_a_binary_frame_is_answered_then_the_socket_is_closed_1003(
    gateway: Gateway,
    service: FakeService,
    prefix: str,
    subprotocols: list[Subprotocol],
    code: str,
) -> None:
    cp_id = f"{prefix}binary"
    service.delays["Authorize"] = 0.3
    authorize = (
        {"idTag": "T1"}
        if subprotocols == OCPP16
        else {"idToken": {"idToken": "T1", "type": "ISO14443"}}
    )
    async with connect(gateway.url(cp_id), subprotocols=subprotocols) as ws:
        await ws.send(orjson.dumps([2, "a1", "Authorize", authorize]).decode())
        await ws.send(b'[2,"b1","Heartbeat",{}]')  # a valid CALL, but in a binary frame
        await ws.send('[2,"h1","Heartbeat",{}]')  # after it: never read
        first = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
        error = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
        assert await closed_code(ws) == 1003
    # The CALL before it was answered first, in order (the fake service's Authorize answer
    # is a 1.6 one: a 2.0.1 station gets InternalError); the binary one is not read at all.
    assert first[:2] == [3 if subprotocols == OCPP16 else 4, "a1"]
    assert error[:3] == [4, "-1", code] and "binary" in error[3]
    assert service.of(cp_id, "Heartbeat") == []
    await eventually(lambda: bool(service.of(cp_id, GATEWAY_FRAME_LOG)))
    [logged] = service.of(cp_id, GATEWAY_FRAME_LOG)
    assert logged.payload["frame"] == "<binary frame of 23 bytes>"
    assert logged.payload["error_code"] == code


# ---------------------------------------------------------------- duplicate keys

DUPLICATED_STATUS = (
    '[2,"d1","StatusNotification",'
    '{"connectorId":1,"errorCode":"NoError","status":"Available","status":"Faulted"}]'
)


@pytest.mark.parametrize(
    ("subprotocols", "frame", "code"),
    [
        (OCPP16, DUPLICATED_STATUS, "FormationViolation"),
        (
            OCPP201,
            '[2,"d1","Heartbeat",{"x":{"y":1,"y":1}}]',
            "FormatViolation",
        ),
    ],
)
async def test_duplicate_keys_are_a_formation_violation(
    gateway: Gateway,
    service: FakeService,
    prefix: str,
    subprotocols: list[Subprotocol],
    frame: str,
    code: str,
) -> None:
    cp_id = f"{prefix}dupkeys"
    async with connect(gateway.url(cp_id), subprotocols=subprotocols) as ws:
        answer = await exchange(ws, frame)
        assert answer[:3] == [4, "d1", code]
        assert "duplicate keys" in answer[3]
        assert (await exchange(ws, [2, "h1", "Heartbeat", {}]))[:2] == [3, "h1"]
    assert service.of(cp_id, "StatusNotification") == []


# ---------------------------------------------------------------- 1.6 connectorId bounds


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("StatusNotification", {"connectorId": -1, "errorCode": "NoError", "status": "Available"}),
        ("MeterValues", {"connectorId": -1, "meterValue": [{"timestamp": "T"}]}),
        ("StartTransaction", {"connectorId": 0, "idTag": "T", "meterStart": 0, "timestamp": "T"}),
    ],
)
async def test_connector_id_below_its_bound_is_a_property_constraint_violation(
    gateway: Gateway, service: FakeService, prefix: str, action: str, payload: dict[str, Any]
) -> None:
    cp_id = f"{prefix}connector"
    payload = orjson.loads(orjson.dumps(payload).replace(b'"T"', f'"{now()}"'.encode()))
    if action == "MeterValues":
        payload["meterValue"][0]["sampledValue"] = [{"value": "1"}]  # a valid one otherwise
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        answer = await exchange(ws, [2, "c1", action, payload])
    assert answer[:3] == [4, "c1", "PropertyConstraintViolation"]
    assert answer[4]["path"] == "payload.connectorId"
    assert service.of(cp_id, action) == []


async def test_connector_id_zero_is_the_charge_point_itself(
    gateway: Gateway, service: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}connector0"
    status = {"connectorId": 0, "errorCode": "NoError", "status": "Available"}
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        assert (await exchange(ws, [2, "c0", "StatusNotification", status]))[:2] == [3, "c0"]
    assert len(service.of(cp_id, "StatusNotification")) == 1


# ---------------------------------------------------------------- NUL characters

NUL_CASES = [
    # (subprotocols, action: RPC or fixed answer, payload text with \u0000, path)
    (
        OCPP16,
        "DataTransfer",
        '{"vendorId":"ACME","data":"a\\u0000b"}',
        "payload.data",
    ),
    (
        OCPP16,
        "StatusNotification",
        '{"connectorId":1,"errorCode":"NoError","status":"Available","info":"x\\u0000"}',
        "payload.info",
    ),
    (
        OCPP201,
        "Authorize",
        '{"idToken":{"idToken":"\\u0000A","type":"ISO14443"}}',
        "payload.idToken.idToken",
    ),
    (
        OCPP201,
        "MeterValues",
        '{"evseId":1,"meterValue":[{"timestamp":"T","sampledValue":[{"value":1.5},'
        '{"value":2,"unitOfMeasure":{"unit":"W\\u0000h"}}]}]}',
        "payload.meterValue[0].sampledValue[1].unitOfMeasure.unit",
    ),
    (
        OCPP201,
        "NotifyEvent",
        '{"generatedAt":"T","seqNo":0,"eventData":[],"k\\u0000":1}',
        "payload (a key)",
    ),
]


@pytest.mark.parametrize(("subprotocols", "action", "payload", "path"), NUL_CASES)
async def test_a_nul_character_is_refused_before_anything_is_published(
    gateway: Gateway,
    service: FakeService,
    prefix: str,
    subprotocols: list[Subprotocol],
    action: str,
    payload: str,
    path: str,
) -> None:
    cp_id = f"{prefix}nul"
    body = payload.replace('"T"', f'"{now()}"')
    frame = f'[2,"n1","{action}",{body}]'
    async with connect(gateway.url(cp_id), subprotocols=subprotocols) as ws:
        answer = await exchange(ws, frame)
        assert answer[:3] == [4, "n1", "PropertyConstraintViolation"]
        assert answer[4] == {"path": path} and path in answer[3]
        # The socket goes on.
        assert (await exchange(ws, [2, "h1", "Heartbeat", {}]))[:2] == [3, "h1"]
    assert service.of(cp_id, action) == []
    # The refusal is in the message log, the NUL logged as U+FFFD (Postgres stores no NUL).
    await eventually(lambda: bool(service.of(cp_id, GATEWAY_FRAME_LOG)))
    [logged] = service.of(cp_id, GATEWAY_FRAME_LOG)
    assert logged.payload["action"] == action
    assert logged.payload["error_code"] == "PropertyConstraintViolation"
    assert "\\u0000" not in logged.payload["frame"] and "\\ufffd" in logged.payload["frame"]
