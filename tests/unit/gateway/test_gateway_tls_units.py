"""TLS context, forwarded-certificate headers and the client certificate checks (no sockets)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from websockets.datastructures import Headers

from services.gateway.certs import CertificateRefused, ClientCertificateVerifier
from services.gateway.forwarded import (
    forwarded_certificate,
    forwarded_for,
    forwarded_tls,
    is_trusted,
    parse_networks,
    parse_xfcc,
)
from services.gateway.tls import TLSFiles, TLSReloader, server_context
from tests.fixtures.pki import expired_leaf, make_ca, make_leaf

OCPP_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
}


@pytest.fixture
def files(tmp_path: Path) -> TLSFiles:
    ca = make_ca()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    cert, key = make_leaf(ca, "gw", server=True).write(tmp_path, "server")
    return TLSFiles(str(cert), str(key), str(tmp_path / "ca.pem"))


def test_server_context_speaks_tls12_and_13_with_the_ocpp_suites(files: TLSFiles) -> None:
    ctx = server_context(files)
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode is ssl.CERT_OPTIONAL  # a CA: client certificates asked for
    suites = {c["name"]: c["protocol"] for c in ctx.get_ciphers()}
    assert {n for n, p in suites.items() if p == "TLSv1.2"} == OCPP_TLS12
    assert {n for n, p in suites.items() if p == "TLSv1.3"} >= {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
    }
    assert server_context(TLSFiles(files.cert, files.key)).verify_mode is ssl.CERT_NONE


def test_reloader_notices_a_changed_pair_and_refuses_a_broken_one(
    files: TLSFiles, tmp_path: Path
) -> None:
    reloader = TLSReloader(files, interval=60)
    assert reloader.check() is False  # nothing changed
    ca = make_ca()
    leaf = make_leaf(ca, "gw2", server=True)
    Path(files.key).write_bytes(make_leaf(ca, "other", server=True).key_pem)
    Path(files.cert).write_bytes(leaf.cert_pem)
    assert reloader.check() is False and reloader.reloads == 0  # key does not match
    Path(files.key).write_bytes(leaf.key_pem)
    assert reloader.check() is True and reloader.reloads == 1
    assert reloader.check() is False


def test_xfcc_parsing() -> None:
    value = 'By=spiffe://a;Hash=1;Cert="x",By=spiffe://b;Cert="-----BEGIN%20C";Subject="CN=a,O=b"'
    pairs = parse_xfcc(value)
    assert pairs["cert"] == "-----BEGIN%20C"  # the last element: the nearest proxy's
    assert pairs["subject"] == "CN=a,O=b"


def test_forwarded_certificate_headers(tmp_path: Path) -> None:
    ca = make_ca()
    sub = make_ca("Sub", ca)
    leaf = make_leaf(sub, "CP-1")
    pem = quote(leaf.cert_pem.decode(), safe="")
    chain = quote(sub.cert_pem.decode(), safe="")
    envoy = forwarded_certificate(
        Headers({"X-Forwarded-Client-Cert": f'Hash=1;Cert="{pem}";Chain="{pem}{chain}"'})
    )
    assert envoy is not None and envoy.leaf == leaf.cert and list(envoy.intermediates) == [sub.cert]
    nginx = forwarded_certificate(Headers({"ssl-client-cert": pem}))
    assert nginx is not None and nginx.leaf == leaf.cert
    assert forwarded_certificate(Headers()) is None
    assert forwarded_certificate(Headers({"ssl-client-cert": ""})) is None  # nginx: none
    for bad in (
        Headers({"ssl-client-cert": "garbage"}),
        Headers({"X-Forwarded-Client-Cert": "Hash=1"}),
        Headers([("ssl-client-cert", pem), ("X-Forwarded-Client-Cert", f'Cert="{pem}"')]),
    ):
        with pytest.raises(CertificateRefused):
            forwarded_certificate(bad)


def test_trusted_proxies_and_forwarded_address() -> None:
    nets = parse_networks("10.0.0.0/8, 192.168.1.7 ,::1")
    assert is_trusted("10.1.2.3", nets) and is_trusted("192.168.1.7", nets)
    assert is_trusted("::ffff:10.0.0.1", nets) and is_trusted("::1", nets)
    assert not is_trusted("192.168.1.8", nets) and not is_trusted("", nets)
    h = Headers([("X-Forwarded-For", "1.1.1.1, 203.0.113.5"), ("X-Forwarded-Proto", "https")])
    assert forwarded_for(h, "10.0.0.1") == "203.0.113.5" and forwarded_tls(h)
    assert forwarded_for(Headers({"X-Forwarded-For": "junk"}), "10.0.0.1") == "10.0.0.1"
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/8,nope")


def test_client_certificate_rules(tmp_path: Path) -> None:
    ca = make_ca()
    sub = make_ca("Sub", ca)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    verifier = ClientCertificateVerifier(str(tmp_path / "ca.pem"))
    assert verifier.verify(make_leaf(ca, "CP-1").cert, "CP-1").common_name == "CP-1"
    via_sub = make_leaf(sub, "CP-1").cert
    assert verifier.verify(via_sub, "CP-1", intermediates=[sub.cert]).organization == "Test CSO"
    refusals: list[tuple[x509.Certificate, str, list[x509.Certificate], str]] = [
        (make_leaf(ca, "CP-2").cert, "CP-1", [], "CN"),
        (expired_leaf(ca, "CP-1").cert, "CP-1", [], "expired"),
        (make_leaf(make_ca("Rogue"), "CP-1").cert, "CP-1", [], "chain"),
        (via_sub, "CP-1", [], "chain"),  # the intermediate is not sent
        (sub.cert, "Sub", [], "CA certificate"),
    ]
    for cert, cp_id, intermediates, reason in refusals:
        with pytest.raises(CertificateRefused, match=reason):
            verifier.verify(cert, cp_id, intermediates=intermediates)
    future = datetime.now(UTC) + timedelta(days=400)  # a year on: all has expired
    with pytest.raises(CertificateRefused):
        verifier.verify(make_leaf(ca, "CP-1").cert, "CP-1", now=future)
    org = ClientCertificateVerifier(str(tmp_path / "ca.pem"), organization="Our CSO")
    with pytest.raises(CertificateRefused, match="subject O"):
        org.verify(make_leaf(ca, "CP-1").cert, "CP-1")
    assert org.verify(make_leaf(ca, "CP-1", org="Our CSO").cert, "CP-1").organization == "Our CSO"
