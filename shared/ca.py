"""Charge point certificates the CSMS issues: the CSR checks and the signer (built-in CA or
a plugged-in one).

OCPP 1.6 security whitepaper (use case A02/A03 of 2.0.1 likewise): the charge point sends a
certificate signing request (SignCertificate, PEM PKCS#10); the CSMS checks it, answers
Accepted or Rejected, has it signed by a CA and sends the chain with CertificateSigned.

- `check_csr` is what "checks it" means here: the PEM parses, the CSR's signature verifies
  with its own key, its subject CN is the charge point id (1.6 whitepaper 3.1.3 / 2.0.1
  A00.FR.404: the CN holds the charge point's identity) and its O the configured
  organisation (`CSMS_GATEWAY_CLIENT_CERT_ORGANIZATION`, the one the gateway checks for
  profile 3), the key is RSA of 2048 bits or more or EC on P-256 / P-384 (2.0.1 A00.FR.306:
  the key sizes the TLS suites need), the CSR is signed with SHA-256 or stronger.
- `CertificateSigner` is the plug: anything with an async `sign(csr, chargepoint_id=...,
  certificate_type=...)` returning a `SignedChain`. `BuiltinSigner` signs with a CA
  certificate and key read from files (`CSMS_CA_CERT`, `CSMS_CA_KEY`); `CSMS_CA_SIGNER`
  names a factory `package.module:function` (called with the settings) of another one, e.g.
  a client of an external CA or an EST server (RFC 7030).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.settings import Settings

MIN_RSA_BITS: Final = 2048
EC_CURVES: Final = frozenset({"secp256r1", "secp384r1"})
SIGNATURE_HASHES: Final = frozenset({"sha256", "sha384", "sha512"})
CLOCK_SKEW: Final = timedelta(minutes=5)
"""A new certificate is valid from this long ago (a charge point's clock may be behind)."""

CHARGING_STATION_CERTIFICATE: Final = "ChargingStationCertificate"
V2G_CERTIFICATE: Final = "V2GCertificate"


class CsrRefused(ValueError):
    """The CSR is not one the CSMS signs; the message says why (stored, never sent)."""


class SigningFailed(RuntimeError):
    """The signer could not sign an acceptable CSR (the CA is missing, unreachable, ...)."""


@dataclass(frozen=True, slots=True)
class SignedChain:
    """A signed certificate and the chain to send (PEM: the leaf first, then its CAs)."""

    certificate: x509.Certificate
    chain_pem: str

    @property
    def serial_hex(self) -> str:
        """The serial number as OCPP writes it: hex, no `0x`, no leading zeros, lowercase."""
        return format(self.certificate.serial_number, "x")


@runtime_checkable
class CertificateSigner(Protocol):
    """Signs a checked CSR of a charge point; raises `SigningFailed` when it cannot, or
    `CsrRefused` when its own policy refuses the CSR. `certificate_types`: the 2.0.1
    CertificateSigningUseEnumType values it signs (a SignCertificate of another type is
    Rejected at once)."""

    certificate_types: frozenset[str]

    async def sign(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        chargepoint_id: str,
        certificate_type: str,
    ) -> SignedChain: ...


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def check_key(key: object) -> None:
    """RSA of 2048 bits or more, or EC on P-256 / P-384; `CsrRefused` otherwise."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRefused(f"RSA key of {key.key_size} bits (at least {MIN_RSA_BITS})")
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise CsrRefused(f"EC key on {key.curve.name} (P-256 or P-384)")
        return
    raise CsrRefused(f"{type(key).__name__.removeprefix('_')} key (RSA or EC only)")


def check_csr(
    pem: str, chargepoint_id: str, *, organization: str | None = None
) -> x509.CertificateSigningRequest:
    """The parsed CSR if the CSMS may have it signed for `chargepoint_id`; else `CsrRefused`."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise CsrRefused(f"not a PEM certificate signing request: {exc}") from None
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # noqa: BLE001 - an unsupported algorithm is a refusal too
        raise CsrRefused(f"signature not verifiable: {exc}") from None
    if not valid:
        raise CsrRefused("the CSR's signature does not verify with its key")
    algorithm = csr.signature_hash_algorithm
    if algorithm is None or algorithm.name not in SIGNATURE_HASHES:
        name = algorithm.name if algorithm is not None else "none"
        raise CsrRefused(f"signed with {name} (SHA-256 or stronger)")
    check_key(csr.public_key())
    cn = _attribute(csr.subject, NameOID.COMMON_NAME)
    if cn != chargepoint_id:
        raise CsrRefused(f"subject CN {cn!r:.80} is not the charge point id {chargepoint_id!r}")
    org = _attribute(csr.subject, NameOID.ORGANIZATION_NAME)
    if organization is not None and org != organization:
        raise CsrRefused(f"subject O {org!r:.80} is not {organization!r}")
    return csr


def load_ca(cert_file: str | Path, key_file: str | Path) -> tuple[list[x509.Certificate], object]:
    """(the CA certificate followed by its own chain, the CA's private key) from PEM files."""
    certs = x509.load_pem_x509_certificates(Path(cert_file).read_bytes())
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_file}: an RSA or EC key is needed")
    if certs[0].public_key() != key.public_key():
        raise ValueError(f"{key_file} is not the key of the first certificate of {cert_file}")
    try:
        constraints = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError(f"{cert_file}: the first certificate is not a CA (basicConstraints)")
    return certs, key


class BuiltinSigner:
    """Signs with a CA certificate and key from files, read when first needed and again
    when the files change; certificates valid `validity` from now (never past the CA's).
    Charging station certificates only: a V2G certificate belongs to the V2G PKI."""

    certificate_types: frozenset[str] = frozenset({CHARGING_STATION_CERTIFICATE})

    def __init__(self, cert_file: str, key_file: str, *, validity: timedelta) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.validity = validity
        self._loaded: tuple[tuple[int, int, int, int], list[x509.Certificate], object] | None = None

    def _ca(self) -> tuple[list[x509.Certificate], rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
        try:
            c, k = Path(self.cert_file).stat(), Path(self.key_file).stat()
        except OSError as exc:
            raise SigningFailed(f"CA files not readable: {exc}") from None
        signature = (c.st_mtime_ns, c.st_size, k.st_mtime_ns, k.st_size)
        if self._loaded is None or self._loaded[0] != signature:
            try:
                certs, key = load_ca(self.cert_file, self.key_file)
            except (OSError, ValueError) as exc:
                raise SigningFailed(f"CA does not load: {exc}") from None
            self._loaded = (signature, certs, key)
        _, certs, key = self._loaded
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        return certs, key

    def issue(
        self, csr: x509.CertificateSigningRequest, *, now: datetime | None = None
    ) -> SignedChain:
        """The signed certificate of a checked CSR (a client certificate: clientAuth)."""
        certs, key = self._ca()
        ca = certs[0]
        moment = now or datetime.now(UTC)
        not_after = min(moment + self.validity, ca.not_valid_after_utc)
        if not_after <= moment:
            raise SigningFailed(f"the CA certificate expired on {ca.not_valid_after_utc:%Y-%m-%d}")
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(ca.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(moment - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=isinstance(csr.public_key(), rsa.RSAPublicKey),
                    data_encipherment=False,
                    key_agreement=isinstance(csr.public_key(), ec.EllipticCurvePublicKey),
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(csr.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
        )
        cert = builder.sign(key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM) + b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in certs
        )
        return SignedChain(cert, pem.decode())

    async def sign(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        chargepoint_id: str,
        certificate_type: str,
    ) -> SignedChain:
        """Charging station certificates only: a V2G certificate needs the V2G PKI's CA."""
        if certificate_type not in self.certificate_types:
            raise CsrRefused(f"the built-in CA does not sign a {certificate_type}")
        return self.issue(csr)


SignerFactory = Callable[[Settings], CertificateSigner]


def load_signer(settings: Settings) -> CertificateSigner | None:
    """The configured signer: `CSMS_CA_SIGNER`'s factory, else the built-in CA when
    `CSMS_CA_CERT` and `CSMS_CA_KEY` are set, else None (SignCertificate is Rejected)."""
    if settings.ca_signer:
        module_name, _, attr = settings.ca_signer.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        signer = factory(settings)
        if not isinstance(signer, CertificateSigner) or not inspect.iscoroutinefunction(
            signer.sign
        ):
            raise TypeError(f"{settings.ca_signer} did not return a CertificateSigner")
        return signer
    if settings.ca_cert and settings.ca_key:
        return BuiltinSigner(
            settings.ca_cert, settings.ca_key, validity=timedelta(days=settings.ca_validity_days)
        )
    return None


def create_ca(
    cert_file: Path, key_file: Path, *, common_name: str, organization: str, days: int
) -> x509.Certificate:
    """A self-signed CA (EC P-256) for development; writes the PEM certificate and key
    (the key readable by its owner only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.chmod(0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def hash_data(
    cert: x509.Certificate, issuer_key: object, algorithm: str = "SHA256"
) -> dict[str, str]:
    """OCPP CertificateHashDataType of `cert` (issuer key: the issuer's public key; a
    self-signed certificate's own)."""
    hashers: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
        "SHA256": hashes.SHA256,
        "SHA384": hashes.SHA384,
        "SHA512": hashes.SHA512,
    }
    hasher = hashers[algorithm]

    def digest(data: bytes) -> str:
        h = hashes.Hash(hasher())
        h.update(data)
        return h.finalize().hex()

    assert isinstance(issuer_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    # RFC 6960 CertID: issuerKeyHash is the hash of the issuer's subjectPublicKey bits.
    public = issuer_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": digest(cert.issuer.public_bytes()),
        "issuerKeyHash": digest(_subject_public_key_bits(public)),
        "serialNumber": format(cert.serial_number, "x"),
    }


def _subject_public_key_bits(spki_der: bytes) -> bytes:
    """The contents of the subjectPublicKey BIT STRING of a DER SubjectPublicKeyInfo (minus
    its unused-bits octet): what RFC 6960 hashes for issuerKeyHash."""

    def read(data: bytes, at: int) -> tuple[int, int, int]:
        tag = data[at]
        length = data[at + 1]
        at += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[at : at + n], "big")
            at += n
        return tag, at, length

    _, at, _ = read(spki_der, 0)  # SEQUENCE
    _, body, length = read(spki_der, at)  # AlgorithmIdentifier
    tag, body, length = read(spki_der, body + length)
    if tag != 0x03:
        raise ValueError("not a SubjectPublicKeyInfo")
    return spki_der[body + 1 : body + length]


def main(argv: list[str]) -> int:
    """`csms ca create`: a development CA for the built-in signer."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="csms ca",
        description="The built-in CA that signs charge point certificates (SignCertificate).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser(
        "create",
        help="make a self-signed CA (EC P-256) for development: then set CSMS_CA_CERT and "
        "CSMS_CA_KEY to the files",
    )
    create.add_argument("--cert", type=Path, default=Path("ca.pem"), help="PEM certificate out")
    create.add_argument("--key", type=Path, default=Path("ca.key"), help="PEM key out (0600)")
    create.add_argument("--cn", default="CSMS Charge Point CA", help="subject CN")
    create.add_argument("--org", default="CSMS", help="subject O")
    create.add_argument("--days", type=int, default=3650, help="validity in days")
    create.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    if not args.force and (args.cert.exists() or args.key.exists()):
        print(f"{args.cert} or {args.key} exists; --force to overwrite")
        return 1
    cert = create_ca(
        args.cert, args.key, common_name=args.cn, organization=args.org, days=args.days
    )
    print(f"CA {cert.subject.rfc4514_string()} valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    print(f"CSMS_CA_CERT={args.cert}\nCSMS_CA_KEY={args.key}")
    return 0
