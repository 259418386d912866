"""Security profile 1 in the gateway: Basic header parsing, the registry's answers, the
password verified here (argon2 against the registry's hash) and the cache of verifications."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.datastructures import Headers

from services.gateway.auth import (
    Admission,
    AuthOutcome,
    BasicCredentials,
    MalformedAuthorization,
    RegistryAuthenticator,
    UnsupportedScheme,
    VerifiedPasswords,
    basic_authorization,
    parse_basic_authorization,
    parse_basic_credentials,
    password_fingerprint,
)
from shared.bus.errors import PublishFailed, RpcTimeout, Unroutable
from shared.bus.topology import GATEWAY_AUTHENTICATE, UPSTREAM
from shared.envelope import Envelope
from shared.passwords import hash_password
from tests.patience import PATIENCE

PASSWORD = "0123456789abcdef:x"  # a ':' in the password is allowed
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$fake-hash-of-the-password"


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


def verify_with(password_hash: Any) -> Any:
    """The registry's answer for a charge point whose password the gateway must verify."""
    return lambda env: env.result(
        {"allowed": None, "reason": "verify", "password_hash": password_hash}
    )


@dataclass
class CountingVerifier:
    """Stands in for argon2: `password` matches `password_hash`; counts the calls."""

    password: str = PASSWORD
    password_hash: str = HASH
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, password: str, password_hash: str) -> bool:
        self.calls.append((password, password_hash))
        return (password, password_hash) == (self.password, self.password_hash)


def authenticator(
    bus: FakeBus, verify: Any = None, verified: VerifiedPasswords | None = None
) -> RegistryAuthenticator:
    if verify is None:
        return RegistryAuthenticator(bus, node_id="node-1", timeout=3.0, verified=verified)
    return RegistryAuthenticator(
        bus, node_id="node-1", timeout=3.0, verify=verify, verified=verified
    )


def with_auth(user: str, password: str) -> Headers:
    return Headers([("Authorization", basic_authorization(user, password))])


async def test_asks_the_registry_once_without_the_password() -> None:
    bus = FakeBus(reply=answer(True))
    outcome = await authenticator(bus)("CP-1", with_auth("CP-1", PASSWORD), "10.0.0.7")
    assert outcome is AuthOutcome.ALLOWED
    [(exchange, key, env, timeout)] = bus.calls
    assert (exchange, key, timeout) == (UPSTREAM, GATEWAY_AUTHENTICATE, 3.0)
    assert env.action == GATEWAY_AUTHENTICATE and env.chargepoint_id == "CP-1"
    assert env.node_id == "node-1"
    assert env.payload == {
        "chargepoint_id": "CP-1",
        "presented": True,
        "remote_ip": "10.0.0.7",
        "security_profile": 1,
    }
    assert PASSWORD.encode() not in env.to_bytes()  # nothing secret on the broker


async def test_no_header_asks_with_presented_false() -> None:
    bus = FakeBus(reply=answer(True))
    assert await authenticator(bus)("CP-1", Headers(), "10.0.0.7") is AuthOutcome.ALLOWED
    assert bus.calls[0][2].payload["presented"] is False


async def test_refused_by_the_registry() -> None:
    bus = FakeBus(reply=answer(False))
    verify = CountingVerifier()
    outcome = await authenticator(bus, verify)("CP-1", with_auth("CP-1", PASSWORD), "10.0.0.7")
    assert outcome is AuthOutcome.REFUSED
    assert verify.calls == []  # a refusal is final, whatever the password


async def test_password_verified_against_the_registrys_hash() -> None:
    bus = FakeBus(reply=verify_with(HASH))
    verify = CountingVerifier()
    auth = authenticator(bus, verify)
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert await auth("CP-1", with_auth("CP-1", PASSWORD + "x"), "ip") is AuthOutcome.REFUSED
    assert verify.calls == [(PASSWORD, HASH), (PASSWORD + "x", HASH)]
    assert len(bus.calls) == 2  # still one RPC per connection attempt


async def test_real_argon2() -> None:
    bus = FakeBus(reply=verify_with(hash_password(PASSWORD)))
    auth = authenticator(bus)  # shared.passwords.verify_password
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert await auth("CP-1", with_auth("CP-1", "0123456789abcdef:y"), "ip") is (
        AuthOutcome.REFUSED
    )
    bus.reply = verify_with("not-an-argon2-hash")
    assert await auth("CP-2", with_auth("CP-2", PASSWORD), "ip") is AuthOutcome.REFUSED


async def test_cache_hit_skips_argon2() -> None:
    bus = FakeBus(reply=verify_with(HASH))
    verify = CountingVerifier()
    auth = authenticator(bus, verify)
    for _ in range(5):  # a reconnect storm of one charge point
        assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert len(verify.calls) == 1
    assert len(bus.calls) == 5  # the registry is still asked every time (decommissioning)


async def test_cache_a_different_password_misses() -> None:
    bus = FakeBus(reply=verify_with(HASH))
    verify = CountingVerifier()
    auth = authenticator(bus, verify)
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    for _ in range(2):  # failures are not cached: each one is verified
        assert await auth("CP-1", with_auth("CP-1", "another-password-1"), "ip") is (
            AuthOutcome.REFUSED
        )
    assert [p for p, _h in verify.calls] == [PASSWORD, "another-password-1", "another-password-1"]
    # The right password is still cached.
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert len(verify.calls) == 3


async def test_cache_a_changed_hash_misses() -> None:
    bus = FakeBus(reply=verify_with(HASH))
    verify = CountingVerifier()
    auth = authenticator(bus, verify)
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    # The operator set a new password through the API: the registry answers its hash.
    verify.password, verify.password_hash = "the-new-password-1", HASH + "-new"
    bus.reply = verify_with(HASH + "-new")
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.REFUSED
    assert await auth("CP-1", with_auth("CP-1", "the-new-password-1"), "ip") is (
        AuthOutcome.ALLOWED
    )
    assert verify.calls == [
        (PASSWORD, HASH),
        (PASSWORD, HASH + "-new"),
        ("the-new-password-1", HASH + "-new"),
    ]


async def test_cache_is_per_charge_point() -> None:
    bus = FakeBus(reply=verify_with(HASH))
    verify = CountingVerifier()
    auth = authenticator(bus, verify)
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert await auth("CP-2", with_auth("CP-2", PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert len(verify.calls) == 2


async def test_cache_drops_the_oldest_when_full() -> None:
    bus = FakeBus(reply=verify_with(HASH))
    verify = CountingVerifier()
    verified = VerifiedPasswords(max_entries=2)
    auth = authenticator(bus, verify, verified)
    for cp in ("CP-1", "CP-2", "CP-3"):
        assert await auth(cp, with_auth(cp, PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert len(verified) == 2 and len(verify.calls) == 3
    # CP-2 and CP-3 are remembered; CP-1, the oldest, was dropped and is verified again.
    for cp in ("CP-2", "CP-3"):
        assert await auth(cp, with_auth(cp, PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert len(verify.calls) == 3
    assert await auth("CP-1", with_auth("CP-1", PASSWORD), "ip") is AuthOutcome.ALLOWED
    assert [cp for cp in ("CP-1", "CP-2", "CP-3") if verified.holds(cp, HASH, PASSWORD)] == [
        "CP-1",
        "CP-3",
    ]
    assert len(verify.calls) == 4


def test_cache_keeps_no_clear_password() -> None:
    verified = VerifiedPasswords()
    verified.add("CP-1", HASH, PASSWORD)
    assert verified.holds("CP-1", HASH, PASSWORD)
    assert not verified.holds("CP-1", HASH, PASSWORD + "x")
    assert not verified.holds("CP-1", HASH + "x", PASSWORD)
    assert not verified.holds("CP-2", HASH, PASSWORD)
    [mac] = vars(verified)["_entries"].values()
    assert len(mac) == 32 and PASSWORD.encode() not in mac
    # Another process (another random key) keeps another value for the same password.
    other = VerifiedPasswords()
    other.add("CP-1", HASH, PASSWORD)
    assert vars(other)["_entries"] != vars(verified)["_entries"]


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
        FakeBus(reply=answer(None)),  # no decision and no hash in the reply
        FakeBus(reply=answer("yes")),
        FakeBus(reply=verify_with(42)),  # a hash that is no string
        FakeBus(reply=lambda env: env.result({"allowed": None, "reason": "verify"})),  # no hash
    ],
)
async def test_no_word_from_the_registry_is_unavailable(bus: FakeBus) -> None:
    verify = CountingVerifier()
    outcome = await authenticator(bus, verify)("CP-1", with_auth("CP-1", PASSWORD), "ip")
    assert outcome is AuthOutcome.UNAVAILABLE
    assert verify.calls == []


async def test_verify_without_credentials_is_unavailable() -> None:
    # The registry asks to verify a password the charge point did not send: inconsistent.
    bus = FakeBus(reply=verify_with(HASH))
    verify = CountingVerifier()
    assert await authenticator(bus, verify)("CP-1", Headers(), "ip") is AuthOutcome.UNAVAILABLE
    assert verify.calls == []


async def test_logs_hold_neither_the_password_nor_the_hash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = FakeBus(reply=verify_with(HASH))
    auth = authenticator(bus, CountingVerifier())
    with caplog.at_level(logging.DEBUG):
        assert await auth("CP-1", with_auth("CP-1", "wrong-password-42"), "198.51.100.9") is (
            AuthOutcome.REFUSED
        )
        assert await auth("CP-1", Headers(), "198.51.100.9") is AuthOutcome.UNAVAILABLE
    assert "wrong password" in caplog.text and "198.51.100.9" in caplog.text
    assert "wrong-password-42" not in caplog.text and HASH not in caplog.text


async def test_verifications_at_a_time_are_bounded() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    # Each verification waits for a partner: two must run at once (not by luck of scheduling,
    # which a sleep would leave to the machine's load); with a bound of 1 it would time out.
    pair = threading.Barrier(2, timeout=PATIENCE)

    def slow_verify(password: str, password_hash: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        pair.wait()
        with lock:
            running -= 1
        return True

    bus = FakeBus(reply=verify_with(HASH))
    auth = RegistryAuthenticator(
        bus, node_id="node-1", timeout=3.0, verify=slow_verify, max_verifications=2
    )
    outcomes = await asyncio.gather(
        *(auth(f"CP-{i}", with_auth(f"CP-{i}", PASSWORD), "ip") for i in range(6))
    )
    assert set(outcomes) == {AuthOutcome.ALLOWED}
    assert most == 2


@pytest.mark.parametrize("status", ["Accepted", "Pending", "Rejected", None])
async def test_admit_hands_on_the_registration_status(status: str | None) -> None:
    bus = FakeBus(
        reply=lambda env: env.result(
            {"allowed": True, "reason": "test", "registration_status": status}
        )
    )
    admission = await authenticator(bus).admit("CP-1", Headers(), "10.0.0.7")
    assert admission == Admission(AuthOutcome.ALLOWED, status)


async def test_admit_after_a_verified_password_hands_on_the_registration_status() -> None:
    bus = FakeBus(
        reply=lambda env: env.result(
            {
                "allowed": None,
                "reason": "verify",
                "password_hash": HASH,
                "registration_status": "Pending",
            }
        )
    )
    auth = authenticator(bus, CountingVerifier())
    assert await auth.admit("CP-1", with_auth("CP-1", PASSWORD), "ip") == Admission(
        AuthOutcome.ALLOWED, "Pending", security_profile=1
    )
    # A refusal carries no status; a reply without one (an older registry) is "unknown".
    assert await auth.admit("CP-1", with_auth("CP-1", "wrong-password-x"), "ip") == Admission(
        AuthOutcome.REFUSED
    )
    bus.reply = answer(True)
    assert await auth.admit("CP-1", Headers(), "ip") == Admission(AuthOutcome.ALLOWED, None)


async def test_rotation_accepts_the_old_and_the_new_password() -> None:
    new_hash = "argon2-new-hash"
    bus = FakeBus(
        reply=lambda env: env.result(
            {
                "allowed": None,
                "reason": "verify",
                "password_hash": HASH,
                "pending_password_hash": new_hash,
                "registration_status": "Accepted",
            }
        )
    )

    def verify(password: str, password_hash: str) -> bool:
        return (password, password_hash) in {(PASSWORD, HASH), ("new-password-0123", new_hash)}

    auth = authenticator(bus, verify)
    old = await auth.admit("CP-1", with_auth("CP-1", PASSWORD), "ip")
    assert (old.outcome, old.new_password) == (AuthOutcome.ALLOWED, None)
    new = await auth.admit("CP-1", with_auth("CP-1", "new-password-0123"), "ip")
    # The new one is named by the fingerprint of its hash (the registry then promotes it).
    assert (new.outcome, new.new_password) == (AuthOutcome.ALLOWED, password_fingerprint(new_hash))
    assert new_hash not in (new.new_password or "")
    wrong = await auth.admit("CP-1", with_auth("CP-1", "neither-of-them-00"), "ip")
    assert wrong.outcome is AuthOutcome.REFUSED


async def test_one_credentials_check_at_a_time_per_id_and_address() -> None:
    release = asyncio.Event()

    class SlowBus(FakeBus):
        async def rpc(self, *args: Any, **kwargs: Any) -> Envelope:
            await release.wait()
            return await super().rpc(*args, **kwargs)

    auth = authenticator(SlowBus(reply=verify_with(HASH)), CountingVerifier())
    first = asyncio.create_task(auth.admit("CP-1", with_auth("CP-1", PASSWORD), "10.0.0.1"))
    await asyncio.sleep(0)
    # A concurrent guess of the same pair: 429 at once; another address is not held up.
    second = await auth.admit("CP-1", with_auth("CP-1", "guess-0000000000"), "10.0.0.1")
    assert (second.outcome, second.retry_after) == (AuthOutcome.THROTTLED, 1)
    other = asyncio.create_task(auth.admit("CP-1", with_auth("CP-1", PASSWORD), "10.0.0.2"))
    release.set()
    assert (await first).outcome is AuthOutcome.ALLOWED
    assert (await other).outcome is AuthOutcome.ALLOWED
    # Done: the pair may try again.
    assert (await auth.admit("CP-1", with_auth("CP-1", PASSWORD), "10.0.0.1")).outcome is (
        AuthOutcome.ALLOWED
    )
