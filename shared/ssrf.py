"""The SSRF guard: URLs the CSMS calls on someone else's say must be public HTTP(S) addresses.

Used for webhook targets (an API user's URL) and OCSP responders (a charge point's URL in
GetCertificateStatus). Loopback, private, link-local, multicast, reserved and unspecified
addresses are refused unless the caller's setting allows them
(`CSMS_WEBHOOKS_ALLOW_PRIVATE_TARGETS`, `CSMS_OCSP_ALLOW_PRIVATE_RESPONDERS`: tests, a
private deployment). Webhooks are checked when an endpoint is saved and again, on the
resolved addresses, before every delivery (a name may resolve elsewhere later); OCSP before
every request. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """A URL the guard refuses; the message says why."""


def check_url_shape(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL without credentials; TargetRefused otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must be http or https")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"bad port: {exc}") from None
    return parts.hostname, port


def is_public(address: str) -> bool:
    """Whether an IP address is a global unicast one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse (TargetRefused) a URL whose host is or resolves to a non-public address."""
    host, port = check_url_shape(url)
    if allow_private:
        return
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise TargetRefused(f"the host {host} does not resolve: {exc}") from None
    if not addresses:
        raise TargetRefused(f"the host {host} does not resolve")
    private = [a for a in addresses if not is_public(a)]
    if private:
        raise TargetRefused(
            f"the host {host} resolves to a loopback, private or link-local address "
            f"({', '.join(private)}); set CSMS_WEBHOOKS_ALLOW_PRIVATE_TARGETS to allow it"
        )
