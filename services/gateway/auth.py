"""Security profile 1: HTTP Basic auth on the websocket upgrade, decided by the registry.

OCPP 1.6 security whitepaper / 2.0.1 Part 2 A00: the charge point sends
`Authorization: Basic base64(<charge point id>:<AuthorizationKey>)` with its upgrade request.
The gateway has no database, so it checks the header's form here and asks the registry
(`gateway.authenticate` RPC on `ocpp.upstream`, one per connection attempt) whether the
socket may open:

| request | answer |
|---|---|
| `Authorization` header not valid Basic credentials, or more than one | 400 |
| another scheme (`Bearer ...`) | 401 + `WWW-Authenticate: Basic realm="csms"` |
| username other than the charge point id of the URL | 401 (the registry is not asked) |
| registry refuses (wrong/missing password, decommissioned) | 401 + challenge |
| registry allows (right password, no password set, unknown id) | the handshake goes on |
| registry does not answer in `CSMS_UPSTREAM_CALL_TIMEOUT`, unroutable, error reply | 503 |

A charge point is never let in unchecked: without the registry's word the answer is 503
and the charge point retries (it keeps its queued messages meanwhile).
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Final

from websockets.datastructures import Headers

from services.gateway.connection import BusPort
from shared.bus.errors import BusError, RpcTimeout, Unroutable
from shared.bus.topology import GATEWAY_AUTHENTICATE, UPSTREAM
from shared.envelope import Envelope, Kind

log = logging.getLogger(__name__)

REALM: Final = "csms"
CHALLENGE: Final = f'Basic realm="{REALM}"'


class AuthOutcome(Enum):
    """What the gateway answers an upgrade request, as far as authentication goes."""

    ALLOWED = "allowed"  # go on with the handshake
    MALFORMED = "malformed"  # 400
    REFUSED = "refused"  # 401 + WWW-Authenticate
    UNAVAILABLE = "unavailable"  # 503: the registry did not answer


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


class RegistryAuthenticator:
    """Checks the credentials of an upgrade request: form here, decision by the registry."""

    def __init__(self, bus: BusPort, *, node_id: str, timeout: float) -> None:
        self._bus = bus
        self._node_id = node_id
        self._timeout = timeout

    async def __call__(self, chargepoint_id: str, headers: Headers, remote_ip: str) -> AuthOutcome:
        """Decide on one upgrade request (one RPC, unless the header settles it)."""
        try:
            credentials = parse_basic_authorization(headers)
        except UnsupportedScheme as exc:
            log.warning("connection from %s refused: %s", remote_ip, exc)
            return AuthOutcome.REFUSED
        except MalformedAuthorization as exc:
            log.warning("connection from %s refused: %s", remote_ip, exc)
            return AuthOutcome.MALFORMED
        if credentials is not None and credentials.username != chargepoint_id:
            log.warning(
                "connection from %s refused: Basic user-id %r is not the charge point id",
                remote_ip,
                credentials.username[:64],
            )
            return AuthOutcome.REFUSED
        return await self._ask_registry(
            chargepoint_id, None if credentials is None else credentials.password, remote_ip
        )

    async def _ask_registry(
        self, chargepoint_id: str, password: str | None, remote_ip: str
    ) -> AuthOutcome:
        request = Envelope(
            kind=Kind.CALL,
            action=GATEWAY_AUTHENTICATE,
            chargepoint_id=chargepoint_id,
            node_id=self._node_id,
            correlation_id=uuid.uuid4().hex,
            payload={
                "chargepoint_id": chargepoint_id,
                "password": password,
                "remote_ip": remote_ip,
            },
        )
        try:
            reply = await self._bus.rpc(
                UPSTREAM, GATEWAY_AUTHENTICATE, request, timeout=self._timeout
            )
        except RpcTimeout:
            log.error("registry did not answer the authentication within %.1fs", self._timeout)
            return AuthOutcome.UNAVAILABLE
        except Unroutable:
            log.error("no registry consumes %s; refusing connections (503)", GATEWAY_AUTHENTICATE)
            return AuthOutcome.UNAVAILABLE
        except BusError as exc:
            log.error("cannot ask the registry (%r); refusing the connection (503)", exc)
            return AuthOutcome.UNAVAILABLE
        if reply.kind is not Kind.RESULT:
            log.error(
                "registry answered the authentication with %s %s: %s",
                reply.kind.value,
                reply.error_code,
                reply.error_description,
            )
            return AuthOutcome.UNAVAILABLE
        allowed = reply.payload.get("allowed")
        if allowed is True:
            return AuthOutcome.ALLOWED
        if allowed is not False:
            log.error("registry answered the authentication without a decision: %s", reply.payload)
            return AuthOutcome.UNAVAILABLE
        log.warning(
            "connection from %s refused by the registry: %s",
            remote_ip,
            reply.payload.get("reason"),
        )
        return AuthOutcome.REFUSED
