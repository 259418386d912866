"""Security profile 3: is a client certificate the charge point's own?

A certificate identifies the charge point of the URL when

1. it chains to a certificate of the configured CA file (`CSMS_GATEWAY_TLS_CA`: roots and,
   optionally, intermediate CAs; intermediates the client sent are used too), every link
   signed by the next and marked as a CA (basicConstraints);
2. every certificate of that chain is valid now (notBefore <= now <= notAfter);
3. its subject CN equals the charge point id of the URL (OCPP 1.6 security whitepaper 3.1.3 /
   2.0.1 A00.FR.4xx: the CN holds the charge point's identity), and, when
   `CSMS_GATEWAY_CLIENT_CERT_ORGANIZATION` is set, its subject O equals that (2.0.1: O = the
   CSO's name).

Over the gateway's own TLS listener OpenSSL has done 1 and 2 in the handshake; the checks run
again here, the same for a certificate a trusted proxy forwarded (`forwarded.py`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

MAX_CHAIN: Final = 6
"""Certificates above the leaf a chain may have (root included)."""


class CertificateRefused(ValueError):
    """The certificate does not identify the charge point; the message says why (logged)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a verified client certificate says."""

    common_name: str
    organization: str | None


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _valid_now(cert: x509.Certificate, now: datetime, what: str) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateRefused(f"{what} not valid before {cert.not_valid_before_utc:%Y-%m-%d}")
    if now > cert.not_valid_after_utc:
        raise CertificateRefused(f"{what} expired on {cert.not_valid_after_utc:%Y-%m-%d}")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject or not _is_ca(issuer):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class ClientCertificateVerifier:
    """Checks client certificates against a CA file (reread when it changes)."""

    def __init__(self, ca_file: str, organization: str | None = None) -> None:
        self.ca_file = ca_file
        self.organization = organization or None
        self._signature: tuple[int, int, int] | None = None
        self._anchors: list[x509.Certificate] = []
        self._reload()

    def _reload(self) -> None:
        st = os.stat(self.ca_file)
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature == self._signature:
            return
        with open(self.ca_file, "rb") as f:
            anchors = x509.load_pem_x509_certificates(f.read())
        self._anchors = [c for c in anchors if _is_ca(c)]
        if not self._anchors:
            raise ValueError(f"{self.ca_file} holds no CA certificate")
        self._signature = signature

    def _trusted(self) -> list[x509.Certificate]:
        try:
            self._reload()
        except (OSError, ValueError) as exc:  # keep the CAs loaded last
            log.error("client CA file %s does not load, keeping the old one: %s", self.ca_file, exc)
        return self._anchors

    def verify(
        self,
        leaf: x509.Certificate,
        chargepoint_id: str,
        *,
        intermediates: Sequence[x509.Certificate] = (),
        now: datetime | None = None,
        chain_verified: bool = False,
    ) -> Identity:
        """The certificate's identity if it is `chargepoint_id`'s; else `CertificateRefused`.

        `chain_verified`: the TLS handshake verified the chain against the same CA file (the
        intermediates the client sent are not visible here); only validity and names are
        checked again.
        """
        moment = now or datetime.now(UTC)
        _valid_now(leaf, moment, "certificate")
        if _is_ca(leaf):
            raise CertificateRefused("a CA certificate is not a charge point certificate")
        if not chain_verified:
            self._chain(leaf, list(intermediates), moment)
        cn = _attribute(leaf.subject, NameOID.COMMON_NAME)
        if cn != chargepoint_id:
            raise CertificateRefused(
                f"subject CN {cn!r:.80} is not the charge point id {chargepoint_id!r}"
            )
        org = _attribute(leaf.subject, NameOID.ORGANIZATION_NAME)
        if self.organization is not None and org != self.organization:
            raise CertificateRefused(f"subject O {org!r:.80} is not {self.organization!r}")
        return Identity(cn, org)

    def _chain(
        self, leaf: x509.Certificate, intermediates: list[x509.Certificate], now: datetime
    ) -> None:
        """Walk from the leaf to a trusted certificate (trusted intermediates end the walk)."""
        anchors = self._trusted()
        current = leaf
        for _ in range(MAX_CHAIN):
            for anchor in anchors:
                if _issued_by(current, anchor):
                    _valid_now(anchor, now, "issuing CA certificate")
                    return
            step = next((c for c in intermediates if _issued_by(current, c)), None)
            if step is None:
                break
            _valid_now(step, now, "intermediate CA certificate")
            intermediates = [c for c in intermediates if c is not step]
            current = step
        raise CertificateRefused("certificate does not chain to the configured CA")


def load_pem_chain(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM text, leaf first; `CertificateRefused` if there are none."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise CertificateRefused("not a PEM certificate") from None
    if not certs:
        raise CertificateRefused("not a PEM certificate")
    return certs
