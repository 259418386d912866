"""Security profile 1 in the gateway: Basic header parsing and the registry's answers."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.datastructures import Headers

from services.gateway.auth import (
    AuthOutcome,
    BasicCredentials,
    MalformedAuthorization,
    RegistryAuthenticator,
    UnsupportedScheme,
    basic_authorization,
    parse_basic_authorization,
    parse_basic_credentials,
)
from shared.bus.errors import PublishFailed, RpcTimeout, Unroutable
from shared.bus.topology import GATEWAY_AUTHENTICATE, UPSTREAM
from shared.envelope import Envelope

PASSWORD = "0123456789abcdef:x"  # a ':' in the password is allowed


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_round_trip() -> None:
    header = basic_authorization("CP-1", PASSWORD)
    assert parse_basic_credentials(header) == BasicCredentials("CP-1", PASSWORD)


@pytest.mark.parametrize(
    "value",
    [f"basic {b64('CP-1:pw')}", f"BASIC   {b64('CP-1:pw')}  ", f"  Basic {b64('CP-1:pw')}"],
)
def test_scheme_is_case_insensitive_and_spaces_tolerated(value: str) -> None:
    assert parse_basic_credentials(value) == BasicCredentials("CP-1", "pw")


def test_utf8_and_empty_password() -> None:
    assert parse_basic_credentials(f"Basic {b64('Ladesäule-1:')}") == BasicCredentials(
        "Ladesäule-1", ""
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Basic",
        "Basic ",
        "Basic not*base64",
        "Basic " + b64("no-colon"),
        "Basic " + base64.b64encode(b"CP-1:\xff\xfe").decode(),  # not UTF-8
        "Basic Q1AtMTpwdw",  # padding missing
    ],
)
def test_malformed(value: str) -> None:
    with pytest.raises(MalformedAuthorization):
        parse_basic_credentials(value)


@pytest.mark.parametrize("value", ["Bearer abc.def.ghi", "Digest username=x"])
def test_other_schemes(value: str) -> None:
    with pytest.raises(UnsupportedScheme):
        parse_basic_credentials(value)


def test_headers() -> None:
    assert parse_basic_authorization(Headers()) is None
    one = Headers([("Authorization", basic_authorization("CP-1", "pw"))])
    assert parse_basic_authorization(one) == BasicCredentials("CP-1", "pw")
    two = Headers(
        [
            ("Authorization", basic_authorization("CP-1", "pw")),
            ("Authorization", basic_authorization("CP-1", "pw")),
        ]
    )
    with pytest.raises(MalformedAuthorization):
        parse_basic_authorization(two)


def test_repr_hides_the_password() -> None:
    assert "secret" not in repr(BasicCredentials("CP-1", "secret-secret-secret"))


@dataclass
class FakeBus:
    """Answers the authentication RPC with `reply` (an Envelope factory) or raises `error`."""

    reply: Any = None
    error: Exception | None = None
    calls: list[tuple[str, str, Envelope, float]] = field(default_factory=list)

    async def publish(self, *_a: Any, **_k: Any) -> None:
        raise AssertionError("publish is not used")

    async def rpc(
        self, exchange: str, routing_key: str, envelope: Envelope, *, timeout: float, **_k: Any
    ) -> Envelope:
        self.calls.append((exchange, routing_key, envelope, timeout))
        if self.error is not None:
            raise self.error
        result: Envelope = self.reply(envelope)
        return result


def answer(allowed: Any) -> Any:
    return lambda env: env.result({"allowed": allowed, "reason": "test"})


def authenticator(bus: FakeBus) -> RegistryAuthenticator:
    return RegistryAuthenticator(bus, node_id="node-1", timeout=3.0)


def with_auth(user: str, password: str) -> Headers:
    return Headers([("Authorization", basic_authorization(user, password))])


async def test_asks_the_registry_once_with_the_password() -> None:
    bus = FakeBus(reply=answer(True))
    outcome = await authenticator(bus)("CP-1", with_auth("CP-1", PASSWORD), "10.0.0.7")
    assert outcome is AuthOutcome.ALLOWED
    [(exchange, key, env, timeout)] = bus.calls
    assert (exchange, key, timeout) == (UPSTREAM, GATEWAY_AUTHENTICATE, 3.0)
    assert env.action == GATEWAY_AUTHENTICATE and env.chargepoint_id == "CP-1"
    assert env.node_id == "node-1"
    assert env.payload == {"chargepoint_id": "CP-1", "password": PASSWORD, "remote_ip": "10.0.0.7"}


async def test_no_header_asks_with_a_null_password() -> None:
    bus = FakeBus(reply=answer(True))
    assert await authenticator(bus)("CP-1", Headers(), "10.0.0.7") is AuthOutcome.ALLOWED
    assert bus.calls[0][2].payload["password"] is None


async def test_refused_by_the_registry() -> None:
    bus = FakeBus(reply=answer(False))
    outcome = await authenticator(bus)("CP-1", with_auth("CP-1", "wrong"), "10.0.0.7")
    assert outcome is AuthOutcome.REFUSED


async def test_settled_without_asking() -> None:
    bus = FakeBus(reply=answer(True))
    auth = authenticator(bus)
    assert await auth("CP-1", with_auth("CP-2", PASSWORD), "ip") is AuthOutcome.REFUSED
    bearer = Headers([("Authorization", "Bearer x")])
    assert await auth("CP-1", bearer, "ip") is AuthOutcome.REFUSED
    broken = Headers([("Authorization", "Basic !!!")])
    assert await auth("CP-1", broken, "ip") is AuthOutcome.MALFORMED
    assert bus.calls == []


@pytest.mark.parametrize(
    "bus",
    [
        FakeBus(error=RpcTimeout("no reply")),
        FakeBus(error=Unroutable(UPSTREAM, GATEWAY_AUTHENTICATE)),
        FakeBus(error=PublishFailed("nack")),
        FakeBus(reply=lambda env: env.error("NotSupported", "old registry")),
        FakeBus(reply=answer(None)),  # no decision in the reply
    ],
)
async def test_no_word_from_the_registry_is_unavailable(bus: FakeBus) -> None:
    outcome = await authenticator(bus)("CP-1", with_auth("CP-1", PASSWORD), "ip")
    assert outcome is AuthOutcome.UNAVAILABLE
