"""Security profile 1 through a real gateway and RabbitMQ: 101 / 400 / 401 / 503.

The registry is played by the fake service (its `gateway.authenticate` answer: a decision, or
a real argon2 hash of PASSWORD for the gateway to verify), and once by the real registry
Dispatcher consuming a queue of its own, in-process, on the test database.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from ocpp.v16 import ChargePoint, call
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from services.gateway.auth import RegistryAuthenticator, basic_authorization
from services.registry.routes import ROUTER
from shared.backoff import Backoff
from shared.bus import GATEWAY_AUTHENTICATE, UPSTREAM, Delivery
from shared.bus.consumer import Outcome
from shared.dispatch import Dispatcher
from shared.envelope import Envelope
from shared.passwords import hash_password
from shared.settings import Settings
from tests.fixtures.bus import BusFactory, NameFactory
from tests.integration.gateway.conftest import SHORT_TIMEOUT, FakeService, Gateway
from tests.patience import PATIENCE

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]
PASSWORD = "0123456789abcdef-right"
HASH = hash_password(PASSWORD)


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Any]) -> Gateway:
    """A gateway node that asks the registry before every upgrade."""
    result: Gateway = await gateway_factory(authenticate=True)
    return result


@pytest.fixture
def hashes() -> dict[str, str]:
    """Charge point id -> the password hash the fake registry answers (default: HASH)."""
    return {}


@pytest.fixture
def registry(service: FakeService, hashes: dict[str, str]) -> FakeService:
    """The fake service answers authentications as the registry does: `open-` ids have no
    password; the others must present one, which the gateway verifies against `hashes`."""

    def decide(env: Envelope) -> dict[str, Any]:
        cp_id = env.chargepoint_id or ""
        if "open-" in cp_id:
            return {"allowed": True, "reason": "no password set (security profile 0)"}
        if env.payload["presented"] is not True:
            return {"allowed": False, "reason": "password required"}
        return {"allowed": None, "reason": "verify", "password_hash": hashes.get(cp_id, HASH)}

    service.answers[GATEWAY_AUTHENTICATE] = decide
    return service


def headers(user: str, password: str) -> dict[str, str]:
    return {"Authorization": basic_authorization(user, password)}


async def status_of(url: str, extra: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, subprotocols=OCPP16, additional_headers=extra):
            pass
    return info.value


async def boot(url: str, cp_id: str, extra: dict[str, str] | None) -> str:
    async with connect(url, subprotocols=OCPP16, additional_headers=extra) as ws:
        cp = ChargePoint(cp_id, ws, response_timeout=PATIENCE)
        runner = asyncio.create_task(cp.start())
        try:
            result = await cp.call(
                call.BootNotification(charge_point_vendor="ACME", charge_point_model="X1"),
                suppress=False,
            )
            return str(result.status)
        finally:
            runner.cancel()


async def test_right_password_opens_the_socket(
    gateway: Gateway, registry: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    assert await boot(gateway.url(cp_id), cp_id, headers(cp_id, PASSWORD)) == "Accepted"
    [request] = registry.of(cp_id, GATEWAY_AUTHENTICATE)  # one RPC per connection
    # The password stays in the gateway: the registry only learns that one was presented.
    assert request.payload == {
        "chargepoint_id": cp_id,
        "presented": True,
        "remote_ip": "127.0.0.1",
        "security_profile": 1,
    }
    assert PASSWORD.encode() not in request.to_bytes()


async def test_refused_is_401_with_a_challenge(
    gateway: Gateway, registry: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    # No credentials: the registry refuses; a wrong password: the gateway's verification does.
    for extra in (None, headers(cp_id, "wrong-password-0000")):
        refused = await status_of(gateway.url(cp_id), extra)
        assert refused.response.status_code == 401
        assert refused.response.headers["WWW-Authenticate"] == 'Basic realm="csms"'
    requests = registry.of(cp_id, GATEWAY_AUTHENTICATE)
    assert [e.payload["presented"] for e in requests] == [False, True]
    assert all(b"wrong-password-0000" not in e.to_bytes() for e in requests)
    assert registry.of(cp_id, "gateway.connected") == []


async def test_reconnection_asks_the_registry_again(
    gateway: Gateway, registry: FakeService, hashes: dict[str, str], prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    for _ in range(2):  # the second verification comes from the gateway's cache
        async with connect(
            gateway.url(cp_id), subprotocols=OCPP16, additional_headers=headers(cp_id, PASSWORD)
        ) as ws:
            assert ws.subprotocol == "ocpp1.6"
    assert len(registry.of(cp_id, GATEWAY_AUTHENTICATE)) == 2
    # The operator sets a new password: the registry answers its hash, the cached one is gone.
    hashes[cp_id] = hash_password("0123456789abcdef-new")
    assert (await status_of(gateway.url(cp_id), headers(cp_id, PASSWORD))).response.status_code == (
        401
    )
    async with connect(
        gateway.url(cp_id),
        subprotocols=OCPP16,
        additional_headers=headers(cp_id, "0123456789abcdef-new"),
    ) as ws:
        assert ws.subprotocol == "ocpp1.6"
    # The registry has the last word: refused now, whatever the gateway remembers.
    registry.answers[GATEWAY_AUTHENTICATE] = lambda _e: {
        "allowed": False,
        "reason": "decommissioned",
    }
    refused = await status_of(gateway.url(cp_id), headers(cp_id, "0123456789abcdef-new"))
    assert refused.response.status_code == 401


async def test_no_password_allowed_when_the_registry_says_so(
    gateway: Gateway, registry: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}open-1"
    assert await boot(gateway.url(cp_id), cp_id, None) == "Accepted"


async def test_header_settles_it_without_the_registry(
    gateway: Gateway, registry: FakeService, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    other = await status_of(gateway.url(cp_id), headers(f"{prefix}other", PASSWORD))
    assert other.response.status_code == 401
    assert other.response.headers["WWW-Authenticate"] == 'Basic realm="csms"'
    malformed = await status_of(gateway.url(cp_id), {"Authorization": "Basic %%%"})
    assert malformed.response.status_code == 400
    no_colon = base64.b64encode(cp_id.encode()).decode()
    assert (
        await status_of(gateway.url(cp_id), {"Authorization": f"Basic {no_colon}"})
    ).response.status_code == 400
    assert registry.of(cp_id, GATEWAY_AUTHENTICATE) == []


async def test_registry_silent_is_503(
    gateway_factory: Callable[..., Any], registry: FakeService, prefix: str
) -> None:
    """The registry never answers; the gateway's (short) upstream call timeout expires: 503.
    (Had the client's open timeout expired first, this would be a TimeoutError, no status.)"""
    short: Gateway = await gateway_factory(authenticate=True, upstream_timeout=SHORT_TIMEOUT)
    cp_id = f"{prefix}cp"
    registry.silent.add(cp_id)
    unavailable = await status_of(short.url(cp_id), headers(cp_id, PASSWORD))
    assert unavailable.response.status_code == 503
    assert registry.of(cp_id, GATEWAY_AUTHENTICATE)  # it was asked, and said nothing


async def test_registry_error_is_503(gateway: Gateway, registry: FakeService, prefix: str) -> None:
    del registry.answers[GATEWAY_AUTHENTICATE]  # the fake answers NotSupported
    cp_id = f"{prefix}cp"
    assert (
        await status_of(gateway.url(cp_id), headers(cp_id, PASSWORD))
    ).response.status_code == 503


async def test_malformed_reply_is_503(gateway: Gateway, registry: FakeService, prefix: str) -> None:
    # "verify" without a hash to verify against: no decision, so no entry.
    registry.answers[GATEWAY_AUTHENTICATE] = lambda _e: {"allowed": None, "reason": "verify"}
    cp_id = f"{prefix}cp"
    assert (
        await status_of(gateway.url(cp_id), headers(cp_id, PASSWORD))
    ).response.status_code == 503


async def test_health_needs_no_credentials(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    writer.close()


@pytest.fixture
async def real_registry(
    bus_factory: BusFactory,
    unique_name: NameFactory,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    prefix: str,
) -> AsyncIterator[None]:
    """The registry's Dispatcher on a queue of its own, answering only this test's ids."""
    bus = await bus_factory(name=f"registry-{prefix}")
    dispatcher = Dispatcher(
        router=ROUTER, sessionmaker=db_sessionmaker, settings=Settings(), publisher=bus
    )

    async def handle(deliveries: Sequence[Delivery]) -> Sequence[Outcome]:
        # The vhost may be shared: leave other tests' charge points to their own registry.
        mine = [(d.envelope.chargepoint_id or "").startswith(prefix) for d in deliveries]
        ours = [d for d, m in zip(deliveries, mine, strict=True) if m]
        replies = iter(await dispatcher(ours) if ours else [])
        return [next(replies) if m else None for m in mine]

    queue = unique_name("registry-auth")
    channel = await bus.connection.channel()
    amqp_queue = await channel.declare_queue(queue, auto_delete=True)
    await amqp_queue.bind(UPSTREAM, GATEWAY_AUTHENTICATE)
    await bus.consume(queue, handle)
    yield


async def test_with_the_real_registry(
    gateway: Gateway, real_registry: None, db_engine: AsyncEngine, prefix: str
) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(
            text(
                "insert into chargepoint (chargepoint_id, registration_status, password_hash) "
                "values (:a, 'Accepted', :h), (:b, 'Accepted', null)"
            ),
            {"a": f"{prefix}locked", "b": f"{prefix}open", "h": hash_password(PASSWORD)},
        )
    locked, open_ = gateway.url(f"{prefix}locked"), gateway.url(f"{prefix}open")
    assert (await status_of(locked)).response.status_code == 401
    assert (
        await status_of(locked, headers(f"{prefix}locked", "x" * 16))
    ).response.status_code == 401
    async with connect(
        locked, subprotocols=OCPP16, additional_headers=headers(f"{prefix}locked", PASSWORD)
    ) as ws:
        assert ws.subprotocol == "ocpp1.6"
    async with connect(open_, subprotocols=OCPP16) as ws:
        assert ws.subprotocol == "ocpp1.6"


async def test_wrong_passwords_back_off_for_that_id_and_address(
    gateway: Gateway, registry: FakeService, prefix: str
) -> None:
    authenticator = getattr(gateway.server.authenticate, "__self__", None)
    assert isinstance(authenticator, RegistryAuthenticator)
    # A clock that stands still: the wait cannot run out while the test looks (no timing).
    authenticator.backoff = Backoff(free_failures=3, clock=lambda: 1000.0)
    cp_id, other = f"{prefix}cp", f"{prefix}other"
    for _ in range(4):
        refused = await status_of(gateway.url(cp_id), headers(cp_id, "wrong-password-0000"))
        assert refused.response.status_code == 401
    asked = len(registry.of(cp_id, GATEWAY_AUTHENTICATE))
    # Now it waits: even the right password gets 429 + Retry-After, without asking anyone.
    throttled = await status_of(gateway.url(cp_id), headers(cp_id, PASSWORD))
    assert throttled.response.status_code == 429
    assert int(throttled.response.headers["Retry-After"]) >= 1
    assert len(registry.of(cp_id, GATEWAY_AUTHENTICATE)) == asked == 4
    # Another charge point from the same address is not held up.
    assert await boot(gateway.url(other), other, headers(other, PASSWORD)) == "Accepted"
