"""A gateway on 127.0.0.1:<free port> over the real broker, and a fake service answering RPCs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage

from services.gateway.auth import RegistryAuthenticator
from services.gateway.downstream import Downstream
from services.gateway.server import GatewayServer
from shared.bus import UPSTREAM, Bus
from shared.bus.batch import BATCH_CONTENT_TYPE, split_batch
from shared.envelope import Envelope
from shared.settings import Settings
from tests.fixtures.bus import BusFactory, NameFactory
from tests.patience import PATIENCE

# Generous: a gateway under test waits as long as a busy machine may need. A test about one
# of these timeouts makes the other party silent and starts its gateway with a short value.
UPSTREAM_TIMEOUT = PATIENCE
COMMAND_TIMEOUT = PATIENCE
SHORT_TIMEOUT = 0.5
"""The timeout a test about a timeout gives its gateway (the other party never answers)."""


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def default_answers() -> dict[str, Callable[[Envelope], dict[str, Any]]]:
    return {
        "BootNotification": lambda _e: {
            "status": "Accepted",
            "currentTime": _now(),
            "interval": 300,
        },
        "Authorize": lambda _e: {"idTagInfo": {"status": "Accepted"}},
        "StartTransaction": lambda _e: {"transactionId": 7, "idTagInfo": {"status": "Accepted"}},
        "StopTransaction": lambda _e: {},
        # An answer that breaks the DataTransfer.conf schema: the gateway must not forward it.
        "DataTransfer": lambda _e: {"status": "Bogus"},
    }


@dataclass
class FakeService:
    """Consumes every upstream key for charge points whose id starts with `prefix`."""

    bus: Bus
    prefix: str
    received: list[Envelope] = field(default_factory=list)
    silent: set[str] = field(default_factory=set)  # charge points never answered
    delays: dict[str, float] = field(default_factory=dict)  # action -> seconds before replying
    answers: dict[str, Callable[[Envelope], dict[str, Any]]] = field(
        default_factory=default_answers
    )

    async def start(self) -> None:
        channel = await self.bus.connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in ("ocpp16.#", "ocpp201.#", "gateway.#"):
            await queue.bind(UPSTREAM, key)
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if message.content_type == BATCH_CONTENT_TYPE:  # the gateway's batches: never RPCs
            for item in split_batch(message.body):
                envelope = Envelope.model_validate(item)
                if (envelope.chargepoint_id or "").startswith(self.prefix):
                    self.received.append(envelope)
            return
        envelope = Envelope.from_bytes(message.body)
        if not (envelope.chargepoint_id or "").startswith(self.prefix):
            return
        self.received.append(envelope)
        if not message.reply_to or envelope.chargepoint_id in self.silent:
            return
        answer = self.answers.get(envelope.action)
        reply = (
            envelope.result(answer(envelope))
            if answer
            else envelope.error("NotSupported", "the fake service does not answer this")
        )
        delay = self.delays.get(envelope.action)
        if delay:
            await asyncio.sleep(delay)
        await self.bus.reply(message, reply)

    def of(self, chargepoint_id: str, action: str) -> list[Envelope]:
        return [
            e for e in self.received if e.chargepoint_id == chargepoint_id and e.action == action
        ]


@dataclass
class Gateway:
    server: GatewayServer
    downstream: Downstream
    bus: Bus
    node_id: str

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, chargepoint_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{chargepoint_id}"

    def wss_url(self, chargepoint_id: str) -> str:
        """The charge point's URL on the TLS listener (TLS configured)."""
        return f"wss://127.0.0.1:{self.server.tls_port}/ocpp/{chargepoint_id}"


GatewayFactory = Callable[..., Any]


@pytest.fixture
def prefix() -> str:
    """A charge point id prefix unique to the test (the vhost may be shared)."""
    return f"GW{uuid.uuid4().hex[:8]}-"


@pytest.fixture
async def gateway_factory(
    bus_factory: BusFactory, unique_name: NameFactory
) -> AsyncIterator[Callable[[], Any]]:
    """Start gateway nodes (each its own Bus, node id and port); closed after the test.

    `await gateway_factory(authenticate=True)`: with the registry authentication hook;
    `upstream_timeout=` / `command_timeout=`: a short timeout for a test about it; other
    keyword arguments are settings (`default_ocpp_version=""`); `port=` listens on that port
    (with `gateway_reuse_port=True`: beside another node on it).

    Heartbeats are published one by one here (`gateway_heartbeat_batch_seconds=0`): these
    tests use Heartbeat as their plain fire-and-forget CALL (published, then answered). The
    gateway's own heartbeat batching (the default) is tested with
    `gateway_heartbeat_batch_seconds=` set, in test_gateway_heartbeats.py.
    """
    started: list[Gateway] = []

    async def make(
        *,
        authenticate: bool = False,
        upstream_timeout: float = UPSTREAM_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
        port: int = 0,
        **overrides: Any,
    ) -> Gateway:
        node_id = unique_name("gwnode").replace("test.", "")
        overrides.setdefault("gateway_heartbeat_batch_seconds", 0)
        settings = Settings(
            gateway_node_id=node_id,
            upstream_call_timeout=upstream_timeout,
            command_timeout=command_timeout,
            ws_ping_interval=20,
            ws_ping_timeout=20,
            **overrides,
        )
        bus = await bus_factory(name=f"gateway-{node_id}")
        downstream = Downstream(bus, node_id=node_id, command_timeout=command_timeout)
        await downstream.start()
        server = GatewayServer(
            settings,
            bus=bus,
            downstream=downstream,
            ready=lambda: bus.is_connected,
            # Security profile 1 as `csms gateway` runs it (the registry is asked).
            authenticate=RegistryAuthenticator(bus, node_id=node_id, timeout=upstream_timeout).admit
            if authenticate
            else None,
        )
        await server.start("127.0.0.1", port, 0)
        gateway = Gateway(server, downstream, bus, node_id)
        started.append(gateway)
        return gateway

    yield make
    for gateway in reversed(started):
        await gateway.server.close()
        await gateway.downstream.stop()


@pytest.fixture
async def gateway(gateway_factory: Callable[[], Any]) -> Gateway:
    """One gateway node."""
    result: Gateway = await gateway_factory()
    return result


@pytest.fixture
async def service(bus_factory: BusFactory, prefix: str) -> FakeService:
    """The fake upstream service for this test's charge points."""
    fake = FakeService(await bus_factory(name=f"fake-service-{prefix}"), prefix)
    await fake.start()
    return fake


@pytest.fixture
async def commander(bus_factory: BusFactory) -> Bus:
    """A Bus that sends downstream commands (like the API would)."""
    return await bus_factory(name=f"commander-{uuid.uuid4().hex[:8]}")
