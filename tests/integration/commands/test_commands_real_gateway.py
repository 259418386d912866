"""Every 1.6 and 2.0.1 command: API model -> send_command -> the real gateway -> an `ocpp`
library charge point, and its answer back (the lead's e2e test runs the same over processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v16 import ChargePoint, call_result
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as call_result_201
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from services.api.commands.schemas import COMMANDS, COMMANDS_201, load_schema
from services.gateway.downstream import Downstream
from services.gateway.server import GatewayServer
from shared.bus import Bus
from shared.commands import (
    COMMANDS_V16,
    COMMANDS_V201,
    NotConnected,
    Result,
    TimedOut,
    send_command,
    to_camel,
    to_snake,
)
from shared.ocpp import OCPP201
from shared.settings import Settings
from tests.fixtures.bus import BusFactory
from tests.patience import PATIENCE
from tests.unit.commands.examples import example201

pytestmark = pytest.mark.integration

COMMAND_TIMEOUT = PATIENCE  # generous: only the silent test is about it (its own 0.5 s)

ANSWERS: dict[str, Any] = {
    "CancelReservation": call_result.CancelReservation(status="Accepted"),
    "ChangeAvailability": call_result.ChangeAvailability(status="Scheduled"),
    "ChangeConfiguration": call_result.ChangeConfiguration(status="RebootRequired"),
    "ClearCache": call_result.ClearCache(status="Accepted"),
    "ClearChargingProfile": call_result.ClearChargingProfile(status="Unknown"),
    "DataTransfer": call_result.DataTransfer(status="Accepted", data="pong"),
    "GetCompositeSchedule": call_result.GetCompositeSchedule(
        status="Accepted",
        connector_id=1,
        schedule_start="2030-01-01T00:00:00Z",
        charging_schedule={
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
        },
    ),
    "GetConfiguration": call_result.GetConfiguration(
        configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        unknown_key=["Nope"],
    ),
    "GetDiagnostics": call_result.GetDiagnostics(file_name="diagnostics.zip"),
    "GetLocalListVersion": call_result.GetLocalListVersion(list_version=3),
    "RemoteStartTransaction": call_result.RemoteStartTransaction(status="Accepted"),
    "RemoteStopTransaction": call_result.RemoteStopTransaction(status="Rejected"),
    "ReserveNow": call_result.ReserveNow(status="Occupied"),
    "Reset": call_result.Reset(status="Accepted"),
    "SendLocalList": call_result.SendLocalList(status="VersionMismatch"),
    "SetChargingProfile": call_result.SetChargingProfile(status="Accepted"),
    "TriggerMessage": call_result.TriggerMessage(status="NotImplemented"),
    "UnlockConnector": call_result.UnlockConnector(status="Unlocked"),
    "UpdateFirmware": call_result.UpdateFirmware(),
    # Security whitepaper
    "DeleteCertificate": call_result.DeleteCertificate(status="NotFound"),
    "ExtendedTriggerMessage": call_result.ExtendedTriggerMessage(status="Accepted"),
    "GetInstalledCertificateIds": call_result.GetInstalledCertificateIds(status="NotFound"),
    "GetLog": call_result.GetLog(status="Accepted", filename="security.log"),
    "InstallCertificate": call_result.InstallCertificate(status="Accepted"),
    "SignedUpdateFirmware": call_result.SignedUpdateFirmware(status="InvalidCertificate"),
}

EXPECTED_SNAKE: dict[str, dict[str, Any]] = {
    "GetCompositeSchedule": {
        "status": "Accepted",
        "connector_id": 1,
        "schedule_start": "2030-01-01T00:00:00Z",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
        },
    },
    "GetConfiguration": {
        "configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknown_key": ["Nope"],
    },
    "GetLocalListVersion": {"list_version": 3},
}


class LibraryChargePoint(ChargePoint):  # type: ignore[misc]
    """Answers every 1.6 command with ANSWERS and records what it got (snake_case kwargs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.got: dict[str, dict[str, Any]] = {}
        for action in COMMANDS_V16:
            self.route_map[action] = {
                "_on_action": self._handler(action),
                "_skip_schema_validation": False,
            }

    def _handler(self, action: str) -> Any:
        async def handler(**kwargs: Any) -> Any:
            self.got[action] = kwargs
            return ANSWERS[action]

        return handler


async def until_routable(downstream: Downstream, cp_id: str, routable: bool) -> None:
    """Wait until the gateway has bound (or unbound) the id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while downstream.routable(cp_id) is not routable:
        assert loop.time() < deadline, f"{cp_id} routable is not {routable}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def real_gateway(bus_factory: BusFactory) -> AsyncIterator[tuple[GatewayServer, Downstream]]:
    node_id = f"cmdnode-{uuid.uuid4().hex[:10]}"
    settings = Settings(gateway_node_id=node_id, command_timeout=COMMAND_TIMEOUT)
    bus = await bus_factory(name=f"gateway-{node_id}")
    downstream = Downstream(bus, node_id=node_id, command_timeout=COMMAND_TIMEOUT)
    await downstream.start()
    server = GatewayServer(settings, bus=bus, downstream=downstream, ready=lambda: True)
    await server.start("127.0.0.1", 0)
    yield server, downstream
    await server.close()
    await downstream.stop()


async def test_every_command_through_the_real_gateway(
    real_gateway: tuple[GatewayServer, Downstream], bus: Bus
) -> None:
    server, downstream = real_gateway
    cp_id = f"CP-CMDGW-{uuid.uuid4().hex[:8]}"
    url = f"ws://127.0.0.1:{server.port}/ocpp/{cp_id}"
    async with connect(url, subprotocols=[Subprotocol("ocpp1.6")]) as ws:
        await until_routable(downstream, cp_id, True)
        cp = LibraryChargePoint(cp_id, ws)
        runner = asyncio.create_task(cp.start())
        try:
            for action in COMMANDS_V16:
                # What the REST API sends for a body with every field filled in.
                body = COMMANDS[action].request.model_validate(
                    to_snake(example201(load_schema(action)))
                )
                payload = to_camel(body.model_dump(mode="json", exclude_none=True))
                outcome = await send_command(
                    bus,
                    chargepoint_id=cp_id,
                    action=action,
                    payload=payload,
                    timeout=COMMAND_TIMEOUT,
                )
                assert isinstance(outcome, Result), (action, outcome)
                assert action in cp.got
                if action in EXPECTED_SNAKE:
                    assert to_snake(outcome.payload) == EXPECTED_SNAKE[action]
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    assert cp.got["Reset"] == {"type": "Soft"}
    assert set(cp.got["SetChargingProfile"]["cs_charging_profiles"]) >= {"charging_profile_id"}
    # Once the socket is gone the id is unbound: not connected, at once (waiting out the
    # command timeout would be TimedOut instead).
    await until_routable(downstream, cp_id, False)
    outcome = await send_command(
        bus, chargepoint_id=cp_id, action="Reset", payload={"type": "Soft"}, timeout=COMMAND_TIMEOUT
    )
    assert isinstance(outcome, NotConnected)


async def test_silent_charge_point_times_out(
    real_gateway: tuple[GatewayServer, Downstream], bus: Bus
) -> None:
    server, downstream = real_gateway
    cp_id = f"CP-CMDGW-{uuid.uuid4().hex[:8]}"
    async with connect(
        f"ws://127.0.0.1:{server.port}/ocpp/{cp_id}", subprotocols=[Subprotocol("ocpp1.6")]
    ):
        await until_routable(downstream, cp_id, True)
        # The charge point never answers; the command's own short timeout is what expires.
        outcome = await send_command(
            bus, chargepoint_id=cp_id, action="ClearCache", payload={}, timeout=0.5
        )
    assert isinstance(outcome, TimedOut)


class Station201(ChargePoint201):  # type: ignore[misc]
    """Answers every 2.0.1 command with a schema example (every field filled in) and records
    what it got (the library validates both against its own schemas)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.got: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}
        for action in COMMANDS_V201:
            self.route_map[action] = {
                "_on_action": self._handler(action),
                "_skip_schema_validation": False,
            }

    def _handler(self, action: str) -> Any:
        async def handler(**kwargs: Any) -> Any:
            self.got[action] = kwargs
            answer = example201(load_schema(action, response=True, version=OCPP201))
            self.answers[action] = answer
            return getattr(call_result_201, action)(**to_snake(answer, OCPP201))

        return handler


async def test_every_201_command_through_the_real_gateway(
    real_gateway: tuple[GatewayServer, Downstream], bus: Bus
) -> None:
    server, downstream = real_gateway
    cp_id = f"CP-CMDGW201-{uuid.uuid4().hex[:8]}"
    url = f"ws://127.0.0.1:{server.port}/ocpp/{cp_id}"
    async with connect(url, subprotocols=[Subprotocol("ocpp2.0.1")]) as ws:
        await until_routable(downstream, cp_id, True)
        cp = Station201(cp_id, ws)
        runner = asyncio.create_task(cp.start())
        try:
            for action in COMMANDS_V201:
                spec = COMMANDS_201[action]
                # What the REST API sends for a body with every field filled in.
                body = spec.request.model_validate(
                    to_snake(example201(load_schema(action, version=OCPP201)), OCPP201)
                )
                outcome = await send_command(
                    bus,
                    chargepoint_id=cp_id,
                    action=action,
                    payload=spec.payload(body),
                    timeout=COMMAND_TIMEOUT,
                    ocpp_version=OCPP201,
                )
                assert isinstance(outcome, Result), (action, outcome)
                assert action in cp.got
                assert outcome.payload == cp.answers[action], action
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    assert sorted(cp.got) == sorted(COMMANDS_V201)
    assert cp.got["Reset"]["type"] == "OnIdle"
