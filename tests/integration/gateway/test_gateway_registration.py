"""Registration status enforced by the gateway (issue 10, defect 4), with the registry played
by the fake service: its `gateway.authenticate` answer carries the status, and every
BootNotification answer passing through the gateway changes it.

The real registry and services: tests/e2e/test_registration.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from shared.bus import DOWNSTREAM, GATEWAY_AUTHENTICATE, GATEWAY_FRAME_LOG, Bus
from shared.envelope import Envelope, Kind
from tests.integration.gateway.conftest import FakeService, Gateway, GatewayFactory
from tests.integration.gateway.test_gateway_downstream import attached
from tests.integration.gateway.test_gateway_upstream import exchange
from tests.patience import PATIENCE, eventually

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]
OCPP201 = [Subprotocol("ocpp2.0.1")]
BOOT16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
STATUS16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
T0 = "2024-05-01T12:00:00Z"
METER16 = {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "1"}]}]}
START16 = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": T0}


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> Gateway:
    """A gateway node that asks the (fake) registry before every upgrade."""
    result: Gateway = await gateway_factory(authenticate=True)
    return result


@pytest.fixture
def statuses() -> dict[str, str | None]:
    """Charge point id -> the registration status the fake registry answers (absent: None)."""
    return {}


@pytest.fixture
def registry(service: FakeService, statuses: dict[str, str | None]) -> FakeService:
    """Connections allowed (no password), with the registration status of `statuses`; boots
    answered with `boot_status` (Accepted unless set)."""
    service.answers[GATEWAY_AUTHENTICATE] = lambda env: {
        "allowed": True,
        "reason": "no password set (security profile 0)",
        "registration_status": statuses.get(env.chargepoint_id or ""),
    }
    return service


def answer_boots(service: FakeService, status: str) -> None:
    service.answers["BootNotification"] = lambda _e: {
        "status": status,
        "currentTime": "2024-05-01T12:00:00Z",
        "interval": 60,
    }


async def refused(ws: ClientConnection, uid: str, action: str, payload: dict[str, Any]) -> None:
    answer = await exchange(ws, [2, uid, action, payload])
    assert answer[:3] == [4, uid, "SecurityError"], answer
    assert "not accepted" in answer[3]


async def accepted(ws: ClientConnection, uid: str, action: str, payload: dict[str, Any]) -> None:
    answer = await exchange(ws, [2, uid, action, payload])
    assert answer[:2] == [3, uid], answer


async def test_an_accepted_charge_point_may_reconnect_without_booting(
    gateway: Gateway, registry: FakeService, statuses: dict[str, str | None], prefix: str
) -> None:
    cp_id = f"{prefix}accepted"
    statuses[cp_id] = "Accepted"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await accepted(ws, "s1", "StatusNotification", STATUS16)
    # The answer does not wait for the fake registry's consumer: wait for the delivery.
    await eventually(lambda: len(registry.of(cp_id, "StatusNotification")) == 1)


@pytest.mark.parametrize("status", [None, "Pending", "Rejected"])
async def test_nothing_but_boot_goes_through_until_accepted(
    gateway: Gateway,
    registry: FakeService,
    statuses: dict[str, str | None],
    prefix: str,
    status: str | None,
) -> None:
    cp_id = f"{prefix}boot-first"
    statuses[cp_id] = status
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await refused(ws, "s1", "StatusNotification", STATUS16)
        await refused(ws, "h1", "Heartbeat", {})
        await refused(ws, "t1", "StartTransaction", START16)
        await refused(ws, "x1", "FlyToTheMoon", {})  # not even looked at
        await accepted(ws, "b1", "BootNotification", BOOT16)  # answered Accepted
        await accepted(ws, "s2", "StatusNotification", STATUS16)
    # Nothing refused was published; the refusals are in the message log.
    await eventually(lambda: len(registry.of(cp_id, "StatusNotification")) > 0)
    assert [e.unique_id for e in registry.of(cp_id, "StatusNotification")] == ["s2"]
    assert registry.of(cp_id, "Heartbeat") == registry.of(cp_id, "StartTransaction") == []
    await eventually(lambda: len(registry.of(cp_id, GATEWAY_FRAME_LOG)) == 4)
    assert {e.payload["error_code"] for e in registry.of(cp_id, GATEWAY_FRAME_LOG)} == {
        "SecurityError"
    }


@pytest.mark.parametrize("boot_status", ["Pending", "Rejected"])
async def test_a_boot_answered_pending_or_rejected_closes_the_gate(
    gateway: Gateway,
    registry: FakeService,
    statuses: dict[str, str | None],
    prefix: str,
    boot_status: str,
) -> None:
    cp_id = f"{prefix}reboot"
    statuses[cp_id] = "Accepted"  # the registry still says Accepted at connect time ...
    async with connect(gateway.url(cp_id), subprotocols=OCPP201) as ws:
        await accepted(ws, "h1", "Heartbeat", {})
        answer_boots(registry, boot_status)  # ... but this boot is answered otherwise
        assert (await exchange(ws, [2, "b1", "BootNotification", BOOT201]))[2]["status"] == (
            boot_status
        )
        await refused(ws, "h2", "Heartbeat", {})
        answer_boots(registry, "Accepted")  # the operator accepted it; it boots again
        await accepted(ws, "b2", "BootNotification", BOOT201)
        await accepted(ws, "h3", "Heartbeat", {})
    assert [e.unique_id for e in registry.of(cp_id, "Heartbeat")] == ["h1", "h3"]


async def command_answered(
    ws: ClientConnection,
    commander: Bus,
    cp_id: str,
    action: str,
    payload: dict[str, Any],
    status: str,
) -> None:
    """Send a command through the gateway; the charge point answers it with `status`."""
    request = Envelope(kind=Kind.CALL, action=action, payload=payload, chargepoint_id=cp_id)
    reply = asyncio.create_task(commander.rpc(DOWNSTREAM, cp_id, request, timeout=PATIENCE))
    frame = orjson.loads(await asyncio.wait_for(ws.recv(), PATIENCE))
    assert frame[0] == 2 and frame[2] == action
    await ws.send(orjson.dumps([3, frame[1], {"status": status}]).decode())
    assert (await reply).payload == {"status": status}


async def test_a_pending_charge_point_may_send_what_a_trigger_message_asked_for(
    gateway: Gateway,
    registry: FakeService,
    statuses: dict[str, str | None],
    commander: Bus,
    prefix: str,
) -> None:
    # OCPP 1.6 §4.2: while Pending, no requests "unless it has been instructed by the Central
    # System to do so with a TriggerMessage.req request".
    cp_id = f"{prefix}trigger16"
    statuses[cp_id] = "Pending"
    async with connect(gateway.url(cp_id), subprotocols=OCPP16) as ws:
        await attached(gateway, cp_id)
        trigger = {"requestedMessage": "StatusNotification", "connectorId": 1}
        await command_answered(ws, commander, cp_id, "TriggerMessage", trigger, "Rejected")
        await refused(ws, "s1", "StatusNotification", STATUS16)
        await command_answered(ws, commander, cp_id, "TriggerMessage", trigger, "Accepted")
        await accepted(ws, "s2", "StatusNotification", STATUS16)
        await refused(ws, "m1", "MeterValues", METER16)  # not asked for
        # A boot answered (Pending again) starts over: the trigger is spent.
        answer_boots(registry, "Pending")
        await accepted(ws, "b1", "BootNotification", BOOT16)
        await refused(ws, "s3", "StatusNotification", STATUS16)
    assert [e.unique_id for e in registry.of(cp_id, "StatusNotification")] == ["s2"]


async def test_a_pending_station_may_send_the_report_it_was_asked_for(
    gateway: Gateway,
    registry: FakeService,
    statuses: dict[str, str | None],
    commander: Bus,
    prefix: str,
) -> None:
    # OCPP 2.0.1 B02.FR.09: allowed while Pending are BootNotification and the messages
    # triggered by TriggerMessage, GetBaseReport and GetReport.
    cp_id = f"{prefix}report201"
    statuses[cp_id] = "Pending"
    report = {"requestId": 7, "generatedAt": "2024-05-01T12:00:00Z", "seqNo": 0}
    async with connect(gateway.url(cp_id), subprotocols=OCPP201) as ws:
        await attached(gateway, cp_id)
        await refused(ws, "r1", "NotifyReport", report)
        base = {"requestId": 7, "reportBase": "ConfigurationInventory"}
        await command_answered(ws, commander, cp_id, "GetBaseReport", base, "Accepted")
        await accepted(ws, "r2", "NotifyReport", report)
        await accepted(ws, "r3", "NotifyReport", {**report, "seqNo": 1})
        await refused(ws, "h1", "Heartbeat", {})
        trigger = {"requestedMessage": "Heartbeat"}
        await command_answered(ws, commander, cp_id, "TriggerMessage", trigger, "Accepted")
        await accepted(ws, "h2", "Heartbeat", {})
    assert [e.unique_id for e in registry.of(cp_id, "NotifyReport")] == ["r2", "r3"]


async def test_a_rejected_station_gets_nothing_through_a_trigger(
    gateway: Gateway,
    registry: FakeService,
    statuses: dict[str, str | None],
    commander: Bus,
    prefix: str,
) -> None:
    # B03.FR.07: while Rejected, anything but BootNotification is a SecurityError.
    cp_id = f"{prefix}rejected201"
    statuses[cp_id] = "Rejected"
    async with connect(gateway.url(cp_id), subprotocols=OCPP201) as ws:
        await attached(gateway, cp_id)
        trigger = {"requestedMessage": "Heartbeat"}
        await command_answered(ws, commander, cp_id, "TriggerMessage", trigger, "Accepted")
        await refused(ws, "h1", "Heartbeat", {})
