"""TLS in the gateway (profiles 2 and 3) through a real gateway, broker and `wss://` clients.

A CA, the gateway's server certificate and the charge points' client certificates are made
in the test (tests/fixtures/pki.py). The registry is played by the fake service: it admits a
connection when the security profile the gateway says it presents reaches the station's
(`required`, default 0).
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from services.gateway.auth import basic_authorization
from shared.bus import GATEWAY_AUTHENTICATE
from shared.envelope import Envelope
from tests.fixtures.pki import Issued, client_context, expired_leaf, make_ca, make_leaf
from tests.integration.gateway.conftest import FakeService, Gateway
from tests.patience import PATIENCE, wait_for

pytestmark = pytest.mark.integration

OCPP16 = [Subprotocol("ocpp1.6")]


@dataclass
class Pki:
    """Files of a test PKI: the CA (server and charge point certificates), the server pair."""

    directory: Path
    ca: Issued
    ca_file: Path
    server_cert: Path
    server_key: Path

    def client(self, cn: str, issuer: Issued | None = None, **kwargs: Any) -> tuple[Path, Path]:
        """A charge point certificate for `cn` (issued by the CA unless `issuer`), its paths."""
        issued = make_leaf(issuer or self.ca, cn, **kwargs)
        return issued.write(self.directory, f"client-{cn}-{issued.cert.serial_number}")

    def context(self, cert: tuple[Path, Path] | None = None, **limits: Any) -> ssl.SSLContext:
        return client_context(self.ca_file, cert, **limits)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = make_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    cert, key = make_leaf(ca, "gateway", server=True).write(tmp_path, "server")
    return Pki(tmp_path, ca, ca_file, cert, key)


@pytest.fixture
def required() -> dict[str, int]:
    """Charge point id -> the security profile the fake registry requires (default 0)."""
    return {}


@pytest.fixture
def registry(service: FakeService, required: dict[str, int]) -> FakeService:
    def decide(env: Envelope) -> dict[str, Any]:
        need = required.get(env.chargepoint_id or "", 0)
        if env.payload["security_profile"] >= need:
            return {"allowed": True, "reason": "profile reached", "registration_status": "Accepted"}
        return {"allowed": False, "reason": "security profile", "refusal": "profile"}

    service.answers[GATEWAY_AUTHENTICATE] = decide
    return service


@pytest.fixture
async def tls_gateway(
    gateway_factory: Callable[..., Any], pki: Pki, registry: FakeService
) -> Gateway:
    """A gateway with ws:// and wss:// listeners, client CA, asking the fake registry."""
    result: Gateway = await gateway_factory(
        authenticate=True,
        gateway_tls_cert=str(pki.server_cert),
        gateway_tls_key=str(pki.server_key),
        gateway_tls_ca=str(pki.ca_file),
        gateway_tls_reload_interval=0.05,
    )
    return result


async def boot(ws: ClientConnection, cp_id: str) -> str:
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


async def status_of(url: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, subprotocols=OCPP16, open_timeout=PATIENCE, **kwargs):
            pass
    return info.value.response.status_code


async def refused_in_tls_handshake(url: str, ctx: ssl.SSLContext) -> None:
    """The TLS handshake fails (no HTTP answer at all)."""
    with pytest.raises((OSError, InvalidHandshake)) as info:
        async with connect(url, subprotocols=OCPP16, ssl=ctx, open_timeout=PATIENCE):
            pass
    assert not isinstance(info.value, InvalidStatus)


def tls_version(ws: ClientConnection) -> tuple[str, str]:
    ssl_object = ws.transport.get_extra_info("ssl_object")
    return ssl_object.version(), ssl_object.cipher()[0]


async def test_one_process_serves_ws_and_wss(
    tls_gateway: Gateway, registry: FakeService, pki: Pki, prefix: str
) -> None:
    plain, secure = f"{prefix}plain", f"{prefix}secure"
    async with connect(tls_gateway.url(plain), subprotocols=OCPP16) as ws:
        assert await boot(ws, plain) == "Accepted"
    async with connect(tls_gateway.wss_url(secure), subprotocols=OCPP16, ssl=pki.context()) as ws:
        assert tls_version(ws)[0] in ("TLSv1.2", "TLSv1.3")
        assert await boot(ws, secure) == "Accepted"
    [p] = registry.of(plain, GATEWAY_AUTHENTICATE)
    [s] = registry.of(secure, GATEWAY_AUTHENTICATE)
    # Neither presents credentials: profile 0 whatever the transport.
    assert p.payload["security_profile"] == s.payload["security_profile"] == 0


async def test_basic_auth_over_tls_is_profile_2(
    tls_gateway: Gateway, registry: FakeService, required: dict[str, int], pki: Pki, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    required[cp_id] = 2
    creds = {"Authorization": basic_authorization(cp_id, "0123456789abcdef")}
    # The fake registry admits on the profile alone (no password check here): over ws:// the
    # same credentials are profile 1, below the station's 2 -> 403.
    assert await status_of(tls_gateway.url(cp_id), additional_headers=creds) == 403
    async with connect(
        tls_gateway.wss_url(cp_id), subprotocols=OCPP16, ssl=pki.context(), additional_headers=creds
    ) as ws:
        assert await boot(ws, cp_id) == "Accepted"
    profiles = [e.payload["security_profile"] for e in registry.of(cp_id, GATEWAY_AUTHENTICATE)]
    assert profiles == [1, 2]


async def test_tls12_only_with_the_ocpp_cipher_suites(
    tls_gateway: Gateway, pki: Pki, prefix: str
) -> None:
    url = tls_gateway.wss_url(f"{prefix}cp")
    tls12 = ssl.TLSVersion.TLSv1_2
    ctx = pki.context(maximum_version=tls12)
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    async with connect(url, subprotocols=OCPP16, ssl=ctx) as ws:
        assert tls_version(ws) == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    # A TLS 1.2 suite OCPP does not list (CBC) is not offered by the server.
    weak = pki.context(maximum_version=tls12)
    weak.set_ciphers("ECDHE-ECDSA-AES128-SHA256")
    await refused_in_tls_handshake(url, weak)
    # TLS 1.1 and older: refused.
    with warnings.catch_warnings():  # the point: a client that still speaks TLS 1.1
        warnings.simplefilter("ignore", DeprecationWarning)
        old = pki.context()
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
    await refused_in_tls_handshake(url, old)


async def test_certificate_reloaded_without_dropping_stations(
    tls_gateway: Gateway, pki: Pki, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    first = tls_gateway.server.tls
    assert first is not None
    async with connect(tls_gateway.wss_url(cp_id), subprotocols=OCPP16, ssl=pki.context()) as held:
        old_serial = _peer_serial(held)
        # The Secret is rotated: new certificate and key written over the files.
        renewed = make_leaf(pki.ca, "gateway", server=True)
        renewed.write(pki.directory, "server")
        await wait_for(lambda: first.reloads == 1)
        async with connect(
            tls_gateway.wss_url(f"{prefix}new"), subprotocols=OCPP16, ssl=pki.context()
        ) as fresh:
            assert _peer_serial(fresh) == renewed.cert.serial_number != old_serial
        # The station connected before the rotation still talks over its socket.
        await held.send(orjson.dumps([2, "hb-1", "Heartbeat", {}]).decode())
        answer = orjson.loads(await asyncio.wait_for(held.recv(), PATIENCE))
        assert answer[:2] == [3, "hb-1"]


async def test_a_broken_renewal_keeps_the_old_certificate(
    tls_gateway: Gateway, pki: Pki, prefix: str
) -> None:
    reloader = tls_gateway.server.tls
    assert reloader is not None
    pki.server_key.write_bytes(make_leaf(pki.ca, "other", server=True).key_pem)  # key mismatch
    assert reloader.check() is False
    async with connect(
        tls_gateway.wss_url(f"{prefix}cp"), subprotocols=OCPP16, ssl=pki.context()
    ) as ws:
        assert ws.protocol.state.name == "OPEN"


def _peer_serial(ws: ClientConnection) -> int:
    from cryptography import x509

    der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


# --- profile 3: client certificates over the gateway's own TLS --------------------------------


async def test_profile3_client_certificate_of_the_station(
    tls_gateway: Gateway, registry: FakeService, required: dict[str, int], pki: Pki, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    required[cp_id] = 3
    ctx = pki.context(pki.client(cp_id))
    async with connect(tls_gateway.wss_url(cp_id), subprotocols=OCPP16, ssl=ctx) as ws:
        assert await boot(ws, cp_id) == "Accepted"
    [request] = registry.of(cp_id, GATEWAY_AUTHENTICATE)
    assert request.payload["security_profile"] == 3


async def test_profile3_refusals(
    tls_gateway: Gateway, registry: FakeService, required: dict[str, int], pki: Pki, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    required[cp_id] = 3
    url = tls_gateway.wss_url(cp_id)
    # Wrong CN: a valid certificate of another charge point.
    wrong_cn = pki.context(pki.client(f"{prefix}other"))
    assert await status_of(url, ssl=wrong_cn) == 403
    # Expired, and issued by a CA the gateway does not trust: the TLS handshake fails.
    expired = expired_leaf(pki.ca, cp_id).write(pki.directory, "expired")
    await refused_in_tls_handshake(url, pki.context(expired))
    await refused_in_tls_handshake(url, pki.context(pki.client(cp_id, issuer=make_ca("Rogue"))))
    # No certificate at all: profile 2 at best (here 0), below the station's 3.
    assert await status_of(url, ssl=pki.context()) == 403
    # Only the last reached the registry: certificates are refused by the gateway.
    [request] = registry.of(cp_id, GATEWAY_AUTHENTICATE)
    assert request.payload["security_profile"] == 0
    assert registry.of(cp_id, "gateway.connected") == []


async def test_organization_rule(
    gateway_factory: Callable[..., Any], registry: FakeService, pki: Pki, prefix: str
) -> None:
    gw: Gateway = await gateway_factory(
        authenticate=True,
        gateway_tls_cert=str(pki.server_cert),
        gateway_tls_key=str(pki.server_key),
        gateway_tls_ca=str(pki.ca_file),
        gateway_client_cert_organization="Our CSO",
    )
    cp_id = f"{prefix}cp"
    theirs = pki.context(pki.client(cp_id, org="Test CSO"))
    assert await status_of(gw.wss_url(cp_id), ssl=theirs) == 403
    ours = pki.context(pki.client(cp_id, org="Our CSO"))
    async with connect(gw.wss_url(cp_id), subprotocols=OCPP16, ssl=ours) as ws:
        assert await boot(ws, cp_id) == "Accepted"


# --- profile 3 behind a TLS-terminating proxy ---------------------------------------------------


def xfcc(cert: Path) -> dict[str, str]:
    """Envoy's header for a client certificate (SANITIZE_SET, cert details)."""
    pem = quote(cert.read_text(), safe="")
    return {"X-Forwarded-Client-Cert": f'By=spiffe://csms/gateway;Hash=abc;Cert="{pem}"'}


def nginx(cert: Path) -> dict[str, str]:
    """nginx's `proxy_set_header ssl-client-cert $ssl_client_escaped_cert`."""
    return {"ssl-client-cert": quote(cert.read_text(), safe="")}


@pytest.fixture
async def proxied(gateway_factory: Callable[..., Any], pki: Pki, registry: FakeService) -> Gateway:
    """A plain ws:// gateway behind a proxy at 127.0.0.1 that forwards client certificates."""
    result: Gateway = await gateway_factory(
        authenticate=True, gateway_tls_ca=str(pki.ca_file), gateway_trusted_proxies="127.0.0.1/32"
    )
    return result


@pytest.mark.parametrize("header", [xfcc, nginx])
async def test_forwarded_certificate_from_a_trusted_proxy(
    proxied: Gateway,
    registry: FakeService,
    required: dict[str, int],
    pki: Pki,
    prefix: str,
    header: Callable[[Path], dict[str, str]],
) -> None:
    cp_id = f"{prefix}cp"
    required[cp_id] = 3
    cert, _key = pki.client(cp_id)
    extra = header(cert) | {"X-Forwarded-For": "198.51.100.23"}
    async with connect(proxied.url(cp_id), subprotocols=OCPP16, additional_headers=extra) as ws:
        assert await boot(ws, cp_id) == "Accepted"
    [request] = registry.of(cp_id, GATEWAY_AUTHENTICATE)
    assert request.payload["security_profile"] == 3
    assert request.payload["remote_ip"] == "198.51.100.23"


async def test_forwarded_certificate_refusals(
    proxied: Gateway, registry: FakeService, required: dict[str, int], pki: Pki, prefix: str
) -> None:
    cp_id = f"{prefix}cp"
    required[cp_id] = 3
    url = proxied.url(cp_id)
    wrong_cn, _ = pki.client(f"{prefix}other")
    expired, _ = expired_leaf(pki.ca, cp_id).write(pki.directory, "expired")
    rogue, _ = pki.client(cp_id, issuer=make_ca("Rogue"))
    for cert in (wrong_cn, expired, rogue):
        assert await status_of(url, additional_headers=xfcc(cert)) == 403
    assert await status_of(url, additional_headers={"ssl-client-cert": "not%20a%20cert"}) == 403
    assert registry.of(cp_id, GATEWAY_AUTHENTICATE) == []
    # No certificate: below the station's profile.
    assert await status_of(url) == 403


async def test_forwarded_certificate_from_anyone_else_is_refused(
    gateway_factory: Callable[..., Any], registry: FakeService, pki: Pki, prefix: str
) -> None:
    gw: Gateway = await gateway_factory(
        authenticate=True, gateway_tls_ca=str(pki.ca_file), gateway_trusted_proxies="10.0.0.0/8"
    )
    cp_id = f"{prefix}cp"
    cert, _ = pki.client(cp_id)
    for header in (xfcc, nginx):
        assert await status_of(gw.url(cp_id), additional_headers=header(cert)) == 403
    assert registry.of(cp_id, GATEWAY_AUTHENTICATE) == []
