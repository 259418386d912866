"""Client certificates forwarded by a TLS-terminating proxy, trusted only from proxies.

Behind a load balancer that terminates TLS, the gateway does not see the client certificate;
the proxy passes it in a header:

- Envoy: `X-Forwarded-Client-Cert: By=...;Hash=...;Cert="<URL-encoded PEM>";Chain="..."`
  (`forward_client_cert_details: SANITIZE_SET`, `set_current_client_cert_details: {cert: true,
  chain: true}`). With several elements (comma-separated, one per proxy hop) the last one,
  added by the proxy next to the gateway, is used.
- nginx: `ssl-client-cert: <URL-encoded PEM>` (`proxy_set_header ssl-client-cert
  $ssl_client_escaped_cert;`).

The header is believed only when the TCP peer is in `CSMS_GATEWAY_TRUSTED_PROXIES` (CIDRs);
from anyone else a request carrying it is refused (403): a charge point that sends it is
forging an identity. A trusted proxy's `X-Forwarded-Proto: https|wss` (or a forwarded
certificate) marks the connection as TLS, and the last address of its `X-Forwarded-For` is the
charge point's address (logs, back-off).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote

from cryptography import x509
from websockets.datastructures import Headers

from services.gateway.certs import CertificateRefused, load_pem_chain

XFCC: Final = "X-Forwarded-Client-Cert"
NGINX_CERT: Final = "ssl-client-cert"
FORWARDED_CERT_HEADERS: Final = (XFCC, NGINX_CERT)
MAX_HEADER: Final = 64 * 1024

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7` -> networks; ValueError naming a bad entry."""
    networks: list[Network] = []
    for item in text.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR: {item[:60]!r}") from None
    return tuple(networks)


def is_trusted(remote_ip: str, networks: Iterable[Network]) -> bool:
    """Whether the TCP peer is one of the trusted proxies."""
    try:
        address = ipaddress.ip_address(remote_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote_value(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_xfcc(value: str) -> dict[str, str]:
    """The key/value pairs of the last element of an `X-Forwarded-Client-Cert` header."""
    element = _split_outside_quotes(value, ",")[-1]
    pairs: dict[str, str] = {}
    for part in _split_outside_quotes(element, ";"):
        key, eq, raw = part.partition("=")
        if eq:
            pairs[key.strip().lower()] = _unquote_value(raw)
    return pairs


@dataclass(frozen=True, slots=True)
class ForwardedCertificate:
    """The client certificate (and intermediates) a trusted proxy forwarded."""

    leaf: x509.Certificate
    intermediates: Sequence[x509.Certificate] = field(default_factory=tuple)


def forwarded_certificate(headers: Headers) -> ForwardedCertificate | None:
    """The certificate in the request's forwarding headers; None when there is none.

    Raises `CertificateRefused` for a header that holds no readable certificate, or both
    headers / several of one.
    """
    # nginx sends the header empty when the client presented no certificate: none.
    found = [
        (name, v) for name in FORWARDED_CERT_HEADERS for v in headers.get_all(name) if v.strip()
    ]
    if not found:
        return None
    if len(found) > 1:
        raise CertificateRefused("more than one forwarded client certificate header")
    name, value = found[0]
    if len(value) > MAX_HEADER:
        raise CertificateRefused(f"{name} header too long")
    if name == XFCC:
        pairs = parse_xfcc(value)
        cert = pairs.get("cert")
        if not cert:
            raise CertificateRefused("X-Forwarded-Client-Cert without Cert=")
        chain = pairs.get("chain")
        leaf, *rest = load_pem_chain(unquote(cert).encode())
        extra = load_pem_chain(unquote(chain).encode()) if chain else []
        return ForwardedCertificate(leaf, tuple(c for c in [*rest, *extra] if c != leaf))
    leaf, *rest = load_pem_chain(unquote(value.strip()).encode())
    return ForwardedCertificate(leaf, tuple(rest))


def has_forwarded_certificate(headers: Headers) -> bool:
    """Whether the request carries a (non-empty) forwarded certificate header."""
    return any(v.strip() for name in FORWARDED_CERT_HEADERS for v in headers.get_all(name))


def forwarded_tls(headers: Headers) -> bool:
    """A trusted proxy's word that the client spoke TLS to it."""
    proto = headers.get("X-Forwarded-Proto", "")
    return proto.split(",")[-1].strip().lower() in ("https", "wss")


def forwarded_for(headers: Headers, remote_ip: str) -> str:
    """The client address a trusted proxy saw (last `X-Forwarded-For` entry), else the peer."""
    values = headers.get_all("X-Forwarded-For")
    if not values:
        return remote_ip
    last = values[-1].split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return remote_ip
