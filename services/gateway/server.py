"""The websocket server: handshake rules, health endpoints, one connection per charge point.

- The charge point's identity is the last segment of the URL path (`/ocpp/CP1` or `/CP1`),
  URL-decoded: 1 to 255 characters (and at most 255 bytes in UTF-8, the limit of an AMQP
  routing key), printable, no whitespace, no `/`. Anything else is refused with HTTP 400.
- `GET /healthz`, `/readyz` (bus connected, node queue consumed, the registry and
  transactions RPC queues have consumers: main.py, shared/queuewatch.py) and `/metrics` are plain
  HTTP on the same port; those names are therefore not usable as charge point ids.
- Subprotocol: the first of the client's offers that we speak. A handshake that offers
  subprotocols of which none is ours is refused with HTTP 400 (no upgrade; the body names the
  ones we speak). One without a `Sec-WebSocket-Protocol` header at all (some chargers send
  none) is served as `CSMS_DEFAULT_OCPP_VERSION` (ocpp1.6 unless set; empty: HTTP 400), and
  the answer carries no `Sec-WebSocket-Protocol` (RFC 6455 §4.2.2: the server may only
  select one the client offered).
- Security profile 1 (HTTP Basic auth): the `authenticate` hook decides before the upgrade
  (`services/gateway/auth.py`: the registry is asked, one RPC per connection attempt, and a
  presented password is verified here against the hash it answers); 400 for a malformed
  `Authorization` header, 401 with `WWW-Authenticate: Basic` when refused, 503 when the
  registry cannot be asked. `csms gateway` always installs it; without the hook
  (tests) every charge point is let in, as Accepted. With it, the registration status the
  registry answers goes to the connection (nothing but BootNotification until Accepted).
- TLS (security profiles 2 and 3): with `CSMS_GATEWAY_TLS_CERT` / `_KEY` the same process also
  listens for `wss://` on `CSMS_GATEWAY_TLS_PORT` (tls.py: TLS 1.2+, the OCPP suites, files
  reloaded when they change). A client certificate (direct, or forwarded by a trusted proxy:
  forwarded.py) must be the charge point's (certs.py: CA, validity, CN = id) or the upgrade is
  refused with 403; a forwarded-certificate header from anyone but a trusted proxy: 403.
  What the socket presents (`Transport`) goes to the authenticator, which derives the
  security profile the registry compares with the station's.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Final
from urllib.parse import unquote, urlsplit

from cryptography import x509
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from services.gateway.auth import CHALLENGE, Admission, AuthOutcome, Transport
from services.gateway.batching import BatchPublisher, UpstreamBatcher
from services.gateway.certs import CertificateRefused, ClientCertificateVerifier
from services.gateway.connection import BusPort, ChargePointConnection, ConnectionSettings, Peer
from services.gateway.downstream import Downstream
from services.gateway.forwarded import (
    forwarded_certificate,
    forwarded_for,
    forwarded_tls,
    has_forwarded_certificate,
    is_trusted,
    parse_networks,
)
from services.gateway.heartbeats import HeartbeatBatcher
from services.gateway.security_events import SecurityEventReporter
from services.gateway.tls import TLSFiles, TLSReloader
from services.gateway.versions import VERSIONS
from services.gateway.versions.base import ACCEPTED
from shared import metrics
from shared.bus.errors import BusError
from shared.bus.topology import GATEWAY_CONNECTED, GATEWAY_DISCONNECTED, UPSTREAM
from shared.envelope import Envelope, Kind, utcnow
from shared.logging import chargepoint_id_var
from shared.settings import Settings

log = logging.getLogger(__name__)

MAX_ID_LENGTH: Final = 255
UNSUPPORTED_SUBPROTOCOL_CODE: Final = 1002
RESERVED_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
OPEN_TIMEOUT: Final = 10.0
"""Seconds a client has to complete the opening handshake (websockets' default) ..."""
AUTH_MARGIN: Final = 5.0
"""... and at least this much beyond the registry's authentication deadline, so that a
registry that does not answer gets the charge point a 503, not a dropped connection."""

Authenticator = Callable[[str, Headers, str, Transport], Awaitable[Admission]]
"""Security profile hook: (charge point id, request headers, remote IP, transport) ->
admission (`RegistryAuthenticator.admit`)."""
ReadinessCheck = Callable[[], bool]


def chargepoint_id_from_path(path: str) -> str | None:
    """The charge point id in a request path, or None if it is not a valid one."""
    raw = urlsplit(path).path.rsplit("/", 1)[-1]
    try:
        cp_id = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None
    if not 0 < len(cp_id) <= MAX_ID_LENGTH or len(cp_id.encode()) > MAX_ID_LENGTH:
        return None
    if "/" in cp_id or any(not c.isprintable() or c.isspace() for c in cp_id):
        return None
    return cp_id


def select_subprotocol(offered: Sequence[str]) -> Subprotocol | None:
    """The first subprotocol the client offers that we speak."""
    for name in offered:
        if name in VERSIONS:
            return Subprotocol(name)
    return None


def offered_subprotocols(headers: Headers) -> list[str] | None:
    """The subprotocols a handshake offers, in order; None when it has no such header.

    Raises `InvalidHeader` for a malformed `Sec-WebSocket-Protocol`.
    """
    values = headers.get_all("Sec-WebSocket-Protocol")
    if not values:
        return None
    return [name for value in values for name in parse_subprotocol(value)]


_SPOKEN: Final = ", ".join(VERSIONS)


def _plain(
    status: HTTPStatus,
    body: bytes,
    content_type: str = "text/plain",
    extra: Sequence[tuple[str, str]] = (),
) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


_AUTH_RESPONSES: Final = {
    AuthOutcome.MALFORMED: (HTTPStatus.BAD_REQUEST, b"malformed Authorization header\n", ()),
    AuthOutcome.REFUSED: (
        HTTPStatus.UNAUTHORIZED,
        b"unauthorized\n",
        (("WWW-Authenticate", CHALLENGE),),
    ),
    AuthOutcome.FORBIDDEN: (HTTPStatus.FORBIDDEN, b"forbidden\n", ()),
    AuthOutcome.UNAVAILABLE: (
        HTTPStatus.SERVICE_UNAVAILABLE,
        b"central system unavailable, try again later\n",
        (("Retry-After", "10"),),
    ),
}


_NO_HEADERS = Headers()


class GatewayServer:
    """Accepts charge point sockets and serves each with a `ChargePointConnection`."""

    def __init__(
        self,
        settings: Settings,
        *,
        bus: BusPort,
        downstream: Downstream,
        ready: ReadinessCheck,
        authenticate: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.downstream = downstream
        self.ready = ready
        self.authenticate = authenticate
        self.config = ConnectionSettings(
            node_id=settings.gateway_node_id,
            upstream_call_timeout=settings.upstream_call_timeout,
            send_queue_size=settings.ws_send_queue_size,
        )
        self.heartbeats: HeartbeatBatcher | None = (
            HeartbeatBatcher(
                bus,
                node_id=settings.gateway_node_id,
                interval=settings.gateway_heartbeat_batch_seconds,
            )
            if settings.gateway_heartbeat_batch_seconds > 0
            else None
        )
        self.batcher: UpstreamBatcher | None = (
            UpstreamBatcher(bus, UPSTREAM, max_in_flight=settings.gateway_batch_in_flight)
            if settings.gateway_batch_in_flight > 0 and isinstance(bus, BatchPublisher)
            else None
        )
        self._server: Server | None = None
        self._tls_server: Server | None = None
        self.tls: TLSReloader | None = None
        if settings.gateway_tls_cert is not None and settings.gateway_tls_key is not None:
            self.tls = TLSReloader(
                TLSFiles(
                    settings.gateway_tls_cert, settings.gateway_tls_key, settings.gateway_tls_ca
                ),
                settings.gateway_tls_reload_interval,
            )
        self.certificates: ClientCertificateVerifier | None = (
            ClientCertificateVerifier(
                settings.gateway_tls_ca, settings.gateway_client_cert_organization
            )
            if settings.gateway_tls_ca is not None
            else None
        )
        self.trusted_proxies = parse_networks(settings.gateway_trusted_proxies)
        # Certificate refusals, published for the registry's security_event table.
        self.security_events = SecurityEventReporter(bus, settings.gateway_node_id)
        # What the registry said of each upgrade it allowed, until the socket is served.
        self._registrations: weakref.WeakKeyDictionary[ServerConnection, Admission] = (
            weakref.WeakKeyDictionary()
        )
        for version in VERSIONS.values():  # bounded action labels on /metrics
            metrics.register_actions(version.name, version.known_actions)

    @property
    def port(self) -> int:
        """The port listened on (useful with port 0)."""
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def tls_port(self) -> int:
        """The wss:// port listened on (with TLS configured)."""
        if self._tls_server is None:
            raise RuntimeError("no TLS listener")
        port: int = next(iter(self._tls_server.sockets)).getsockname()[1]
        return port

    async def start(
        self, host: str | None = None, port: int | None = None, tls_port: int | None = None
    ) -> None:
        """Listen: ws:// on the gateway port and, with TLS configured, wss:// on the TLS one."""
        s = self.settings
        listen = s.gateway_host if host is None else host
        self._server = await self._serve(listen, s.gateway_port if port is None else port)
        if self.heartbeats is not None:
            self.heartbeats.start()
        log.info("gateway listening on %s:%s (ws)", listen, self.port)
        if self.tls is not None:
            self._tls_server = await self._serve(
                listen, s.gateway_tls_port if tls_port is None else tls_port, self.tls
            )
            self.tls.start()
            log.info("gateway listening on %s:%s (wss)", listen, self.tls_port)

    async def _serve(self, host: str, port: int, tls: TLSReloader | None = None) -> Server:
        s = self.settings
        return await serve(
            self._handle,
            host,
            port,
            ssl=tls.context if tls is not None else None,
            process_request=self._process_request,
            select_subprotocol=lambda _conn, offered: select_subprotocol(offered),
            max_size=s.ws_max_frame_size,
            compression="deflate" if s.ws_compression else None,
            ping_interval=s.ws_ping_interval,
            ping_timeout=s.ws_ping_timeout,
            max_queue=4,
            server_header=None,
            # Several gateway processes on one port: the kernel spreads new connections.
            reuse_port=s.gateway_reuse_port or None,
            open_timeout=max(OPEN_TIMEOUT, s.upstream_call_timeout + AUTH_MARGIN),
        )

    async def close(self) -> None:
        """Stop accepting, close every socket with 1001 (going away), wait for them."""
        if self.tls is not None:
            await self.tls.stop()
        servers = [srv for srv in (self._server, self._tls_server) if srv is not None]
        for srv in servers:
            srv.close(close_connections=True)
        for srv in servers:
            await srv.wait_closed()
        await self.security_events.drain()
        if self.heartbeats is not None:
            await self.heartbeats.stop()  # the last interval's last-seen times

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        path = urlsplit(request.path).path
        if path in RESERVED_PATHS:
            return self._http(path)
        cp_id = chargepoint_id_from_path(request.path)
        if cp_id is None:
            return _plain(HTTPStatus.BAD_REQUEST, b"invalid charge point id in the URL path\n")
        refusal = self._check_subprotocols(request.headers)
        if refusal is not None:
            return refusal
        chargepoint_id_var.set(cp_id)
        transport = self._transport(connection, request.headers, cp_id)
        if isinstance(transport, Response):
            return transport
        if self.authenticate is None:
            return None
        admission = await self.authenticate(cp_id, request.headers, transport.remote_ip, transport)
        if admission.outcome is AuthOutcome.ALLOWED:
            self._registrations[connection] = admission
            return None
        if admission.outcome is AuthOutcome.THROTTLED:
            return _plain(
                HTTPStatus.TOO_MANY_REQUESTS,
                b"too many failed attempts, try again later\n",
                extra=(("Retry-After", str(admission.retry_after or 1)),),
            )
        status, body, extra = _AUTH_RESPONSES[admission.outcome]
        return _plain(status, body, extra=extra)

    def _transport(
        self, connection: ServerConnection, headers: Headers, cp_id: str
    ) -> Transport | Response:
        """How the socket came (TLS, a verified client certificate), or the refusal (403)."""
        remote_ip = _address(connection)[0]
        ssl_object = connection.transport.get_extra_info("ssl_object")
        tls = ssl_object is not None
        leaf: x509.Certificate | None = None
        intermediates: tuple[x509.Certificate, ...] = ()
        if is_trusted(remote_ip, self.trusted_proxies):
            remote_ip = forwarded_for(headers, remote_ip)
            tls = tls or forwarded_tls(headers)
            try:
                forwarded = forwarded_certificate(headers)
            except CertificateRefused as exc:
                return self._refuse_certificate(cp_id, remote_ip, str(exc))
            if forwarded is not None:
                tls = True
                leaf, intermediates = forwarded.leaf, tuple(forwarded.intermediates)
        elif has_forwarded_certificate(headers):
            log.warning(
                "connection from %s refused: forwarded client certificate header from an "
                "address not in CSMS_GATEWAY_TRUSTED_PROXIES",
                remote_ip,
            )
            metrics.count_auth_refusal("gateway", "forged_header")
            return _plain(HTTPStatus.FORBIDDEN, b"forbidden\n")
        chain_verified = False
        if leaf is None and ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                leaf, chain_verified = x509.load_der_x509_certificate(der), True
        if leaf is None:
            return Transport(remote_ip, tls=tls)
        if self.certificates is None:
            return self._refuse_certificate(cp_id, remote_ip, "no CSMS_GATEWAY_TLS_CA configured")
        try:
            self.certificates.verify(
                leaf, cp_id, intermediates=intermediates, chain_verified=chain_verified
            )
        except CertificateRefused as exc:
            return self._refuse_certificate(cp_id, remote_ip, str(exc))
        return Transport(remote_ip, tls=True, certified=True)

    def _refuse_certificate(self, cp_id: str, remote_ip: str, reason: str) -> Response:
        log.warning(
            "connection of %s from %s refused: client certificate: %s",
            cp_id,
            remote_ip,
            reason,
            extra={"remote_ip": remote_ip, "reason": reason},
        )
        metrics.count_auth_refusal("gateway", "certificate")
        self.security_events.report(cp_id, remote_ip, reason)
        return _plain(HTTPStatus.FORBIDDEN, b"client certificate refused\n")

    def _check_subprotocols(self, headers: Headers) -> Response | None:
        """HTTP 400 unless the handshake offers a version we speak, or none and a default
        version is configured (before authentication: it costs no registry RPC)."""
        try:
            offered = offered_subprotocols(headers)
        except InvalidHeader:
            return _plain(HTTPStatus.BAD_REQUEST, b"malformed Sec-WebSocket-Protocol header\n")
        if offered is None:
            if self.settings.default_ocpp_version:
                return None
            log.warning("handshake without Sec-WebSocket-Protocol refused (no default version)")
            body = f"no Sec-WebSocket-Protocol offered; this central system speaks {_SPOKEN}\n"
            return _plain(HTTPStatus.BAD_REQUEST, body.encode())
        if select_subprotocol(offered) is not None:
            return None
        log.warning("handshake refused: no supported subprotocol in %s", offered[:8])
        body = f"no offered subprotocol is supported; this central system speaks {_SPOKEN}\n"
        return _plain(HTTPStatus.BAD_REQUEST, body.encode())

    def _http(self, path: str) -> Response:
        if path == "/healthz":
            return _plain(HTTPStatus.OK, b"ok\n")
        if path == "/readyz":
            if self.ready():
                return _plain(HTTPStatus.OK, b"ready\n")
            return _plain(HTTPStatus.SERVICE_UNAVAILABLE, b"not ready\n")
        body, content_type = metrics.render()
        return _plain(HTTPStatus.OK, body, content_type)

    async def _handle(self, ws: ServerConnection) -> None:
        cp_id = chargepoint_id_from_path(ws.request.path if ws.request else "") or "?"
        chargepoint_id_var.set(cp_id)
        # No subprotocol selected: the handshake offered none (`_check_subprotocols`).
        version = VERSIONS.get(ws.subprotocol or self.settings.default_ocpp_version)
        if version is None:  # not reached: the handshake was refused
            await ws.close(UNSUPPORTED_SUBPROTOCOL_CODE, "no supported OCPP subprotocol offered")
            return
        admission = self._registrations.pop(ws, None)
        if admission is None:  # no authenticator: every charge point is Accepted
            admission = Admission(
                AuthOutcome.ALLOWED, ACCEPTED if self.authenticate is None else None
            )
        registration = admission.registration
        host, port = _address(ws)
        # The handshake's headers are not needed any more; an idle socket should not keep
        # ~4 KB of them for its lifetime. (websockets reads `request is None` as "handshake
        # not received yet", so a header-less request stays.)
        if ws.request is not None:
            ws.request = Request(ws.request.path, _NO_HEADERS)
        ws.response = None
        conn = ChargePointConnection(
            ws,
            peer=Peer(cp_id, host, port),
            version=version,
            bus=self.bus,
            config=self.config,
            registration=registration,
            heartbeats=self.heartbeats,
            batcher=self.batcher,
        )
        try:
            await self.downstream.attach(conn)
        except BusError as exc:
            log.error("cannot route commands to %s (%r); closing", cp_id, exc)
            await self.downstream.detach(conn)
            await ws.close(1011, "central system unavailable, try again later")
            return
        metrics.connection_opened(version.name)
        log.info("connected from %s:%s with %s", host, port, version.name)
        try:
            await self._announce(GATEWAY_CONNECTED, conn, admission)
            await conn.run()
        finally:
            metrics.connection_closed(ws.close_code)
            await asyncio.shield(self.downstream.detach(conn))
            await asyncio.shield(self._announce(GATEWAY_DISCONNECTED, conn))
            log.info("disconnected (code %s)", ws.close_code)

    async def _announce(
        self, action: str, conn: ChargePointConnection, admission: Admission | None = None
    ) -> None:
        """Publish `gateway.connected` / `gateway.disconnected` (confirmed; failures logged).

        `connection_id` and `connected_at` let the registry ignore the disconnect of a socket
        that a newer connection replaced (it may arrive after the newer one's connect).
        """
        envelope = Envelope(
            kind=Kind.EVENT,
            action=action,
            chargepoint_id=conn.chargepoint_id,
            ocpp_version=conn.version.name,
            node_id=self.config.node_id,
            payload={
                "remote_ip": conn.peer.remote_ip,
                "remote_port": conn.peer.remote_port,
                "node_id": self.config.node_id,
                "subprotocol": conn.version.name,
                "connection_id": conn.connection_id,
                "connected_at": conn.connected_at.isoformat(),
                "timestamp": utcnow().isoformat(),
                **_admission_facts(admission),
            },
        )
        try:
            if self.batcher is not None:  # a connect storm: many per broker message
                await self.batcher.publish(action, envelope, mandatory=False)
            else:
                await self.bus.publish(UPSTREAM, action, envelope)
        except BusError as exc:
            log.warning("could not publish %s: %r", action, exc)


def _admission_facts(admission: Admission | None) -> dict[str, object]:
    """What `gateway.connected` says of the authentication: the security profile presented
    and, when it was the new password of a rotation, that password's hash fingerprint."""
    if admission is None:
        return {}
    facts: dict[str, object] = {"security_profile": admission.security_profile}
    if admission.new_password is not None:
        facts["new_password"] = admission.new_password
    return facts


def _address(ws: ServerConnection) -> tuple[str, int]:
    addr = ws.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return str(addr[0]), int(addr[1])
    return "", 0
