"""TLS termination in the gateway (security profiles 2 and 3), with certificate reload.

OCPP 1.6 security whitepaper (edition 2) and 2.0.1 Part 2 A00.FR.3xx: TLS 1.2 or later, and at
least these TLS 1.2 cipher suites (anything weaker is not offered):

- TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
- TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384

plus the TLS 1.3 suites (AES-GCM and ChaCha20-Poly1305, OpenSSL's TLS 1.3 set).

With a CA file (`CSMS_GATEWAY_TLS_CA`) the server asks every client for a certificate
(`CERT_OPTIONAL`: profile 2 stations have none and authenticate with Basic auth); one that is
presented must chain to that CA and be valid now, or the handshake fails. What the certificate
says (CN = the charge point id, O) is checked by the gateway after the handshake
(`services/gateway/certs.py`), before the upgrade.

Reload: `TLSReloader` looks at the certificate, key and CA files every
`CSMS_GATEWAY_TLS_RELOAD_INTERVAL` seconds (size, mtime and inode of the file the path resolves
to: a Kubernetes Secret swaps a symlink) and loads a changed pair into the live `SSLContext`:
new handshakes use the new certificate, established connections keep theirs. A pair that does
not load (half-written files, key not matching) is logged and the old one stays; the next
change is tried again. A changed CA file adds its certificates to the trust store (OpenSSL
cannot remove trusted certificates from a live context: removing a CA needs a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

TLS12_CIPHERS: Final = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
    )
)
"""The OpenSSL names of the TLS 1.2 suites OCPP requires (no others are offered)."""


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """Paths of the server certificate (chain, PEM), its key, and the client CA (optional)."""

    cert: str
    key: str
    ca: str | None = None


FileSignature = tuple[int, int, int] | None


def _signature(path: str | None) -> FileSignature:
    """What changes when a file is replaced (None: missing)."""
    if path is None:
        return None
    try:
        st = os.stat(path)  # follows symlinks: a Secret volume swaps `..data`
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def server_context(files: TLSFiles) -> ssl.SSLContext:
    """A server `SSLContext` with the OCPP protocol versions and suites, certificate loaded."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)  # TLS 1.2 and below; the TLS 1.3 suites are separate
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.load_cert_chain(files.cert, files.key)
    if files.ca is not None:
        ctx.load_verify_locations(cafile=files.ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # profile 2 stations present no certificate
    return ctx


class TLSReloader:
    """The gateway's server `SSLContext`, reloaded in place when its files change."""

    def __init__(self, files: TLSFiles, interval: float) -> None:
        self.files = files
        self.interval = interval
        self.context = server_context(files)
        self._seen = self._signatures()
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0
        """Successful reloads since start (tests, logs)."""

    def _signatures(self) -> tuple[FileSignature, FileSignature, FileSignature]:
        f = self.files
        return (_signature(f.cert), _signature(f.key), _signature(f.ca))

    def check(self) -> bool:
        """Reload what changed since the last look; True when something was reloaded."""
        now = self._signatures()
        if now == self._seen:
            return False
        cert_changed = now[:2] != self._seen[:2]
        ca_changed = now[2] != self._seen[2]
        f = self.files
        try:
            if cert_changed:
                # Load the pair into a scratch context first: a half-written or mismatched
                # pair must not touch the live one.
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(f.cert, f.key)
                self.context.load_cert_chain(f.cert, f.key)
            if ca_changed and f.ca is not None:
                self.context.load_verify_locations(cafile=f.ca)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("TLS files changed but do not load, keeping the old ones: %s", exc)
            # Not remembered as seen: the next look tries again (the writer may not be done).
            return False
        self._seen = now
        self.reloads += 1
        log.info(
            "TLS %s reloaded",
            " and ".join(
                part
                for part, changed in (("certificate", cert_changed), ("client CA", ca_changed))
                if changed
            ),
        )
        return True

    def start(self) -> None:
        """Look at the files every `interval` seconds until `stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tls-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception:  # the loop must survive a bug; logged with its traceback
                log.exception("TLS reload check failed")
