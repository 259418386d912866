"""Security profile 1: HTTP Basic auth on the websocket upgrade, checked with the registry.

OCPP 1.6 security whitepaper / 2.0.1 Part 2 A00: the charge point sends
`Authorization: Basic base64(<charge point id>:<AuthorizationKey>)` with its upgrade request.
The gateway has no database, so it checks the header's form here and asks the registry
(`gateway.authenticate` RPC on `ocpp.upstream`, one per connection attempt) whether the
socket may open. The password never leaves the gateway: the request says only whether
credentials for the charge point id were presented
(`{"chargepoint_id", "presented": bool, "remote_ip"}`). The registry answers a decision
(`{"allowed": bool, "reason"}`) or, when the charge point has a password and presented one,
`{"allowed": null, "reason": "verify", "password_hash": <argon2 hash>}`: the gateway verifies
the password against that hash itself (argon2, in a worker thread, at most
`max_verifications` at a time).

| request | answer |
|---|---|
| `Authorization` header not valid Basic credentials, or more than one | 400 |
| another scheme (`Bearer ...`) | 401 + `WWW-Authenticate: Basic realm="csms"` |
| username other than the charge point id of the URL | 401 (the registry is not asked) |
| registry refuses (password required, decommissioned) | 401 + challenge |
| password does not match the hash the registry answered | 401 + challenge |
| registry allows (no password set, unknown id), or the password matches | the handshake goes on |
| registry silent for `CSMS_UPSTREAM_CALL_TIMEOUT`, unroutable, error or malformed reply | 503 |

The registry's reply also carries the charge point's `registration_status` (Accepted,
Pending, Rejected; null for an id it does not know): `admit` hands it to the connection, which
lets nothing but BootNotification through until the charge point is Accepted (connection.py).

A charge point is never let in unchecked: without the registry's word the answer is 503
and the charge point retries (it keeps its queued messages meanwhile).

Reconnect storms: successful verifications are remembered per process (`VerifiedPasswords`:
(charge point id, password hash) -> HMAC-SHA256 of the password under a random per-process
key), so a charge point that reconnects with the same password costs one RPC and no argon2.
A password changed through the API changes the hash the registry answers, which misses the
cache. The clear password is never logged nor kept.

Security profiles 2 and 3 (docs/security.md): the server tells `admit` how the socket came
(`Transport`: over TLS, with a client certificate already verified for this charge point id
by `certs.py`), and the request carries the profile the connection presents
(`security_profile`: 3 verified certificate, 2 TLS + Basic credentials, 1 Basic credentials,
0 nothing). The registry refuses a connection below the station's profile
(`{"allowed": false, "refusal": "profile"}` -> 403; missing credentials -> 401); a profile 3
connection needs no password.

Brute force (`shared/backoff.py`): wrong passwords and user-ids of one charge point id from one
address make that pair wait (1 s, 2 s, ... up to `CSMS_AUTH_BACKOFF_MAX_SECONDS`) after
`CSMS_AUTH_FAILURES_BEFORE_BACKOFF` failures; meanwhile its attempts get 429 + Retry-After at
once, before any RPC or argon2. And one pair has at most one credentials check under way: a
concurrent attempt of the same pair gets 429 + `Retry-After: 1` at once (a burst of guesses
would otherwise all pass the back-off before the first failure is counted).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from websockets.datastructures import Headers

from services.gateway.connection import BusPort
from shared import metrics
from shared.backoff import Backoff
from shared.bus.errors import BusError, RpcTimeout, Unroutable
from shared.bus.topology import GATEWAY_AUTHENTICATE, UPSTREAM
from shared.envelope import Envelope, Kind
from shared.passwords import verify_password

log = logging.getLogger(__name__)

REALM: Final = "csms"
CHALLENGE: Final = f'Basic realm="{REALM}"'
CACHE_SIZE: Final = 100_000
"""Successful verifications a gateway process remembers (the oldest is dropped when full)."""
MAX_VERIFICATIONS: Final = max(1, min(os.cpu_count() or 1, 8))
"""argon2 verifications at a time per process: CPU-bound, and 64 MiB of memory each."""

PasswordVerifier = Callable[[str, str], bool]
"""(password, argon2 hash) -> whether they match; blocking (run in a worker thread)."""


class AuthOutcome(Enum):
    """What the gateway answers an upgrade request, as far as authentication goes."""

    ALLOWED = "allowed"  # go on with the handshake
    MALFORMED = "malformed"  # 400
    REFUSED = "refused"  # 401 + WWW-Authenticate
    FORBIDDEN = "forbidden"  # 403: below the station's security profile, bad certificate
    THROTTLED = "throttled"  # 429 + Retry-After: too many failures (back-off)
    UNAVAILABLE = "unavailable"  # 503: the registry did not answer


@dataclass(frozen=True, slots=True)
class Transport:
    """How the socket reached the gateway (`server.py` works it out before `admit`)."""

    remote_ip: str
    tls: bool = False
    certified: bool = False
    """A client certificate verified for the charge point id of the URL (certs.py)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of an upgrade request and, when allowed, the registration status the
    registry answered (None: an id it does not know, or a reply without one), the security
    profile the connection presented, and for THROTTLED the seconds to wait."""

    outcome: AuthOutcome
    registration: str | None = None
    security_profile: int = 0
    retry_after: int | None = None
    new_password: str | None = None
    """`password_fingerprint` of the pending (rotated) password hash the connection presented."""


def password_fingerprint(password_hash: str) -> str:
    """Names a stored password hash in `gateway.connected` without carrying it (SHA-256 hex)."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()


def presented_profile(transport: Transport, credentials: bool) -> int:
    """The OCPP security profile a connection presents (0 when it presents nothing)."""
    if transport.certified:
        return 3
    if credentials:
        return 2 if transport.tls else 1
    return 0


class MalformedAuthorization(ValueError):
    """The `Authorization` header is not valid HTTP Basic credentials."""


class UnsupportedScheme(ValueError):
    """The `Authorization` header uses another scheme than Basic."""


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """The user-id and password of an `Authorization: Basic` header."""

    username: str
    password: str

    def __repr__(self) -> str:  # never print the password (logs, assertion messages)
        return f"BasicCredentials(username={self.username!r}, password=<hidden>)"


def parse_basic_authorization(headers: Headers) -> BasicCredentials | None:
    """The Basic credentials of a request; None when it has no `Authorization` header.

    RFC 7617: `Basic <base64(user-id ":" password)>`, the scheme case-insensitive; the user-id
    holds no ':' (the password may). The decoded text must be UTF-8. Raises
    `UnsupportedScheme` for another scheme and `MalformedAuthorization` for anything else that
    is not one well-formed header.
    """
    values = headers.get_all("Authorization")
    if not values:
        return None
    if len(values) > 1:
        raise MalformedAuthorization("more than one Authorization header")
    return parse_basic_credentials(values[0])


def parse_basic_credentials(value: str) -> BasicCredentials:
    """Parse one `Authorization` header value (see `parse_basic_authorization`)."""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic":
        if not scheme:
            raise MalformedAuthorization("empty Authorization header")
        raise UnsupportedScheme(f"unsupported authorization scheme {scheme[:20]!r}")
    token = token.strip()
    if not token:
        raise MalformedAuthorization("Basic without credentials")
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedAuthorization("credentials are not base64 of UTF-8 text") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise MalformedAuthorization("credentials without ':' between user-id and password")
    return BasicCredentials(username, password)


def basic_authorization(username: str, password: str) -> str:
    """The `Authorization` header value a client sends (tests, tools)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class VerifiedPasswords:
    """Passwords this process verified successfully, so that reconnections skip argon2.

    Key: (charge point id, the password hash the registry answered); value: HMAC-SHA256 of
    the password under a random key of this process (never the password itself), compared in
    constant time. A new hash (password changed through the API) is another key: a miss. At
    most `max_entries`: the oldest entry is dropped when full (a dict keeps insertion order).
    """

    def __init__(self, max_entries: int = CACHE_SIZE) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: dict[tuple[str, str], bytes] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _mac(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()

    def holds(self, chargepoint_id: str, password_hash: str, password: str) -> bool:
        """True when `password` was verified against `password_hash` for this charge point."""
        known = self._entries.get((chargepoint_id, password_hash))
        return known is not None and hmac.compare_digest(known, self._mac(password))

    def add(self, chargepoint_id: str, password_hash: str, password: str) -> None:
        """Remember a successful verification (the oldest entry goes when full)."""
        key = (chargepoint_id, password_hash)
        self._entries.pop(key, None)
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = self._mac(password)


class RegistryAuthenticator:
    """Checks the credentials of an upgrade request: form here, decision by the registry,
    password verified here against the hash the registry answers."""

    def __init__(
        self,
        bus: BusPort,
        *,
        node_id: str,
        timeout: float,
        verify: PasswordVerifier = verify_password,
        verified: VerifiedPasswords | None = None,
        max_verifications: int = MAX_VERIFICATIONS,
        backoff: Backoff | None = None,
    ) -> None:
        self._bus = bus
        self._node_id = node_id
        self._timeout = timeout
        self._verify = verify
        self._verified = VerifiedPasswords() if verified is None else verified
        self._verifications = asyncio.Semaphore(max_verifications)
        self.backoff = Backoff() if backoff is None else backoff
        # (charge point id, address) pairs with a password check under way: one at a time.
        self._checking: set[tuple[str, str]] = set()

    async def __call__(self, chargepoint_id: str, headers: Headers, remote_ip: str) -> AuthOutcome:
        """Decide on one upgrade request (one RPC, unless the header settles it)."""
        return (await self.admit(chargepoint_id, headers, remote_ip)).outcome

    def _failed(self, key: tuple[str, str], reason: str) -> None:
        metrics.count_auth_refusal("gateway", reason)
        delay = self.backoff.failure(key)
        if delay:
            log.warning(
                "charge point id %s from %s: too many failures, waits %.0fs", key[0], key[1], delay
            )

    async def admit(
        self,
        chargepoint_id: str,
        headers: Headers,
        remote_ip: str,
        transport: Transport | None = None,
    ) -> Admission:
        """The decision on one upgrade request, with the registration status when allowed."""
        transport = Transport(remote_ip) if transport is None else transport
        key = (chargepoint_id, transport.remote_ip)
        wait = self.backoff.retry_after(key)
        if wait is not None:
            metrics.count_auth_refusal("gateway", "backoff")
            return Admission(AuthOutcome.THROTTLED, retry_after=wait)
        if key in self._checking and "authorization" in headers:
            # A station never opens two sockets at once: concurrent guesses wait their turn
            # (without this a burst passes the back-off check before any failure is counted).
            metrics.count_auth_refusal("gateway", "backoff")
            return Admission(AuthOutcome.THROTTLED, retry_after=1)
        if "authorization" not in headers:
            return await self._admit(chargepoint_id, headers, remote_ip, transport, key)
        self._checking.add(key)
        try:
            return await self._admit(chargepoint_id, headers, remote_ip, transport, key)
        finally:
            self._checking.discard(key)

    async def _admit(
        self,
        chargepoint_id: str,
        headers: Headers,
        remote_ip: str,
        transport: Transport,
        key: tuple[str, str],
    ) -> Admission:
        try:
            credentials = parse_basic_authorization(headers)
        except UnsupportedScheme as exc:
            log.warning("connection from %s refused: %s", remote_ip, exc)
            metrics.count_auth_refusal("gateway", "scheme")
            return Admission(AuthOutcome.REFUSED)
        except MalformedAuthorization as exc:
            log.warning("connection from %s refused: %s", remote_ip, exc)
            metrics.count_auth_refusal("gateway", "malformed")
            return Admission(AuthOutcome.MALFORMED)
        if credentials is not None and credentials.username != chargepoint_id:
            log.warning(
                "connection from %s refused: Basic user-id %r is not the charge point id",
                remote_ip,
                credentials.username[:64],
            )
            self._failed(key, "user_id")
            return Admission(AuthOutcome.REFUSED)
        profile = presented_profile(transport, credentials is not None)
        reply = await self._ask_registry(
            chargepoint_id, credentials is not None, transport.remote_ip, profile
        )
        if reply is None:
            return Admission(AuthOutcome.UNAVAILABLE)
        registration = reply.get("registration_status")
        status = registration if isinstance(registration, str) else None
        allowed = reply.get("allowed")
        if allowed is True:
            return Admission(AuthOutcome.ALLOWED, status, profile)
        if allowed is False:
            log.warning(
                "connection from %s refused by the registry: %s", remote_ip, reply.get("reason")
            )
            if reply.get("refusal") == "profile":
                metrics.count_auth_refusal("gateway", "profile")
                return Admission(AuthOutcome.FORBIDDEN)
            metrics.count_auth_refusal("gateway", "registry")
            return Admission(AuthOutcome.REFUSED)
        password_hash = reply.get("password_hash")
        if allowed is None and isinstance(password_hash, str) and credentials is not None:
            pending = reply.get("pending_password_hash")
            outcome = await self._check_password(
                chargepoint_id,
                credentials.password,
                password_hash,
                remote_ip,
                pending if isinstance(pending, str) else None,
            )
            if isinstance(outcome, str):  # the rotated password
                self.backoff.success(key)
                return Admission(AuthOutcome.ALLOWED, status, profile, new_password=outcome)
            if outcome is AuthOutcome.ALLOWED:
                self.backoff.success(key)
                return Admission(outcome, status, profile)
            self._failed(key, "password")
            return Admission(outcome)
        # Never the whole reply: it may hold a password hash.
        log.error(
            "registry answered the authentication without a decision (allowed=%r, reason=%r, "
            "password hash %s, credentials %s)",
            allowed,
            reply.get("reason"),
            "present" if password_hash is not None else "absent",
            "presented" if credentials is not None else "not presented",
        )
        return Admission(AuthOutcome.UNAVAILABLE)

    async def _ask_registry(
        self, chargepoint_id: str, presented: bool, remote_ip: str, profile: int = 0
    ) -> dict[str, object] | None:
        """The registry's reply payload; None when there is none to act on (-> 503)."""
        request = Envelope(
            kind=Kind.CALL,
            action=GATEWAY_AUTHENTICATE,
            chargepoint_id=chargepoint_id,
            node_id=self._node_id,
            correlation_id=uuid.uuid4().hex,
            payload={
                "chargepoint_id": chargepoint_id,
                "presented": presented,
                "remote_ip": remote_ip,
                "security_profile": profile,
            },
        )
        try:
            reply = await self._bus.rpc(
                UPSTREAM, GATEWAY_AUTHENTICATE, request, timeout=self._timeout
            )
        except RpcTimeout:
            metrics.count_rpc_timeout(GATEWAY_AUTHENTICATE)
            log.error("registry did not answer the authentication within %.1fs", self._timeout)
            return None
        except Unroutable:
            log.error("no registry consumes %s; refusing connections (503)", GATEWAY_AUTHENTICATE)
            return None
        except BusError as exc:
            log.error("cannot ask the registry (%r); refusing the connection (503)", exc)
            return None
        if reply.kind is not Kind.RESULT:
            log.error(
                "registry answered the authentication with %s %s: %s",
                reply.kind.value,
                reply.error_code,
                reply.error_description,
            )
            return None
        payload: dict[str, object] = reply.payload
        return payload

    async def _matches(self, chargepoint_id: str, password: str, password_hash: str) -> bool:
        """Whether the password matches the hash (argon2 in a worker; cached when right)."""
        if self._verified.holds(chargepoint_id, password_hash, password):
            return True
        async with self._verifications:
            ok = await asyncio.to_thread(self._verify, password, password_hash)
        if ok:
            self._verified.add(chargepoint_id, password_hash, password)
        return ok

    async def _check_password(
        self,
        chargepoint_id: str,
        password: str,
        password_hash: str,
        remote_ip: str,
        pending_hash: str | None = None,
    ) -> AuthOutcome | str:
        """Verify the presented password against the registry's hash, then (a rotation under
        way) against the pending one: ALLOWED, REFUSED, or the fingerprint of the pending hash
        when the new password was presented (`gateway.connected` carries it: the registry then
        makes the new password the only one)."""
        if await self._matches(chargepoint_id, password, password_hash):
            return AuthOutcome.ALLOWED
        if pending_hash is not None and await self._matches(chargepoint_id, password, pending_hash):
            return password_fingerprint(pending_hash)
        log.warning(
            "connection of %s from %s refused: wrong password",
            chargepoint_id,
            remote_ip,
            extra={"remote_ip": remote_ip, "reason": "wrong password"},
        )
        return AuthOutcome.REFUSED
