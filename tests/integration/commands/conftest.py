"""Fixtures of the command tests: a fake gateway node on `ocpp.downstream`, event capture,
unique charge point ids, and SQL helpers on the shared test database.

The `sql` fixture itself comes from tests/fixtures/db.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api import security
from services.api.app import create_app
from shared.bus import Bus
from shared.bus.consumer import Delivery, Outcome
from shared.bus.topology import DOWNSTREAM, EVENTS
from shared.commands import COMMAND_COMPLETED
from shared.envelope import Envelope
from shared.settings import Settings
from tests.factories import Sql
from tests.fixtures.bus import BusFactory, NameFactory
from tests.patience import PATIENCE

Answer = Callable[[Envelope], Envelope | None]


@dataclass
class Received:
    """A command as the fake gateway got it."""

    envelope: Envelope
    routing_key: str
    expiration: object
    reply_to: str | None


@dataclass
class FakeGateway:
    """A gateway node: binds charge point ids on `ocpp.downstream`, answers with `answers`."""

    bus: Bus
    node_id: str
    answers: dict[str, Answer] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    queue: str = ""

    async def start(self) -> None:
        self.queue = await self.bus.declare_gateway_queue(self.node_id)
        await self.bus.consume(self.queue, self._on_batch, max_batch=10, max_wait=0)

    async def hold(self, chargepoint_id: str, answer: Answer) -> None:
        """Bind the id: this node now "holds" the charge point and answers with `answer`."""
        self.answers[chargepoint_id] = answer
        await self.bus.bind(self.queue, DOWNSTREAM, chargepoint_id)

    async def _on_batch(self, deliveries: list[Delivery]) -> Sequence[Outcome]:
        outcomes: list[Outcome] = []
        for d in deliveries:
            self.received.append(
                Received(d.envelope, d.routing_key, d.message.expiration, d.message.reply_to)
            )
            answer = self.answers.get(d.routing_key)
            outcomes.append(answer(d.envelope) if answer is not None else None)
        return outcomes


@pytest.fixture
async def gateway(bus_factory: BusFactory) -> FakeGateway:
    gw = FakeGateway(await bus_factory(name=f"fake-gateway-{uuid.uuid4().hex[:8]}"), "")
    gw.node_id = f"test-{uuid.uuid4().hex[:10]}"
    await gw.start()
    return gw


@dataclass
class EventTap:
    """Collects `command.completed` events from a queue of its own."""

    queue: aio_pika.abc.AbstractQueue

    async def next_for(self, correlation_id: str, timeout: float = PATIENCE) -> Envelope:
        """The event of one command (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.queue.get(no_ack=True, fail=False)
                if message is None:
                    await asyncio.sleep(0.02)
                    continue
                envelope = Envelope.from_bytes(message.body)
                if envelope.correlation_id == correlation_id:
                    return envelope


@pytest.fixture
async def events(bus: Bus, unique_name: NameFactory) -> AsyncIterator[EventTap]:
    channel = await bus.connection.channel()
    queue = await channel.declare_queue(unique_name("events"), auto_delete=True)
    await queue.bind(EVENTS, COMMAND_COMPLETED)
    yield EventTap(queue)
    await channel.close()


@pytest.fixture
def cp() -> str:
    """A charge point id of its own per test (the test database is shared)."""
    return f"CP-CMD-{uuid.uuid4().hex[:12]}"


async def add_chargepoint(sql: Sql, cp: str, connectors: Sequence[int] = (1, 2)) -> None:
    """A provisioned charge point with connectors."""
    await sql(
        "INSERT INTO chargepoint (chargepoint_id, registration_status) VALUES (:cp, 'Accepted')",
        cp=cp,
    )
    for n in connectors:
        await sql(
            "INSERT INTO connector (chargepoint_id, connectorid) VALUES (:cp, :n)", cp=cp, n=n
        )


Login = Callable[[str], Awaitable[tuple[dict[str, str], uuid.UUID]]]


@pytest.fixture
def settings() -> Settings:
    """A generous command timeout: only test_504_timeout is about it (a short one of its own)."""
    return Settings(env="test", command_timeout=PATIENCE)


@pytest.fixture(scope="module")
def built_app(db_engine: AsyncEngine) -> FastAPI:
    """Built once (seconds of CPU on a busy machine); each test gives it its settings and bus."""
    return create_app(Settings(env="test"), engine=db_engine)


@pytest.fixture
def app(built_app: FastAPI, settings: Settings, bus: Bus) -> FastAPI:
    built_app.state.settings = settings
    built_app.state.bus = bus
    return built_app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@pytest.fixture
def login(sql: Sql, settings: Settings) -> Login:
    """A new user of `role`: (Authorization header, user id)."""

    async def go(role: str) -> tuple[dict[str, str], uuid.UUID]:
        user_id = uuid.uuid4()
        await sql(
            "INSERT INTO user_account (id, email, password_hash, role)"
            " VALUES (:id, :email, 'x', :role)",
            id=user_id,
            email=f"{role}-{user_id.hex[:10]}@example.com",
            role=role,
        )
        token, _ = security.create_access_token(
            user_id=user_id,
            role=role,
            secret=settings.jwt_secret.get_secret_value(),
            ttl_seconds=600,
        )
        return {"Authorization": f"Bearer {token}"}, user_id

    return go
