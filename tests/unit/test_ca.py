"""The built-in CA and the CSR checks (shared/ca.py): a CA made in the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared import ca
from shared.settings import Settings
from tests.fixtures.pki import make_ca, make_csr, tampered_csr


def test_a_good_csr_passes_and_is_signed_into_a_chain_that_verifies(tmp_path: Path) -> None:
    root = make_ca()
    cert_file, key_file = root.write(tmp_path, "ca")
    pem, key = make_csr("CP-1")
    csr = ca.check_csr(pem, "CP-1", organization="Test CSO")
    signer = ca.BuiltinSigner(str(cert_file), str(key_file), validity=timedelta(days=30))
    signed = signer.issue(csr)
    chain = x509.load_pem_x509_certificates(signed.chain_pem.encode())
    assert chain[0] == signed.certificate
    assert chain[1] == root.cert
    leaf = chain[0]
    leaf.verify_directly_issued_by(root.cert)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1"
    assert leaf.public_key() == key.public_key()
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = leaf.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)
    assert signed.serial_hex == format(leaf.serial_number, "x")


def test_validity_never_passes_the_cas_own(tmp_path: Path) -> None:
    root = make_ca()  # valid 365 days
    cert_file, key_file = root.write(tmp_path, "ca")
    signer = ca.BuiltinSigner(str(cert_file), str(key_file), validity=timedelta(days=3000))
    signed = signer.issue(ca.check_csr(make_csr("CP-1")[0], "CP-1"))
    assert signed.certificate.not_valid_after_utc == root.cert.not_valid_after_utc


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        ("not a csr", "not a PEM"),
        (make_csr("CP-2")[0], "subject CN 'CP-2' is not the charge point id 'CP-1'"),
        (make_csr("CP-1", org="Other")[0], "subject O 'Other' is not 'Test CSO'"),
        (make_csr("CP-1", org=None)[0], "subject O None is not 'Test CSO'"),
        (tampered_csr("CP-1"), "signature does not verify"),
        (make_csr("CP-1", key=rsa.generate_private_key(65537, 1024))[0], "RSA key of 1024"),
        (make_csr("CP-1", key=ec.generate_private_key(ec.SECP521R1()))[0], "secp521r1"),
        (make_csr("CP-1", algorithm=hashes.SHA224())[0], "signed with sha224"),
    ],
)
def test_bad_csrs_are_refused_with_the_reason(pem: str, reason: str) -> None:
    with pytest.raises(ca.CsrRefused, match=reason.replace("(", r"\(")):
        ca.check_csr(pem, "CP-1", organization="Test CSO")


def test_rsa_2048_and_p384_pass() -> None:
    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())):
        ca.check_csr(make_csr("CP-1", key=key)[0], "CP-1")


async def test_the_builtin_signer_refuses_v2g_and_fails_without_its_files(tmp_path: Path) -> None:
    root = make_ca()
    cert_file, key_file = root.write(tmp_path, "ca")
    signer = ca.BuiltinSigner(str(cert_file), str(key_file), validity=timedelta(days=1))
    csr = ca.check_csr(make_csr("CP-1")[0], "CP-1")
    with pytest.raises(ca.CsrRefused, match="V2GCertificate"):
        await signer.sign(csr, chargepoint_id="CP-1", certificate_type=ca.V2G_CERTIFICATE)
    missing = ca.BuiltinSigner(str(tmp_path / "no.pem"), str(key_file), validity=timedelta(1))
    with pytest.raises(ca.SigningFailed, match="not readable"):
        await missing.sign(
            csr, chargepoint_id="CP-1", certificate_type="ChargingStationCertificate"
        )


def test_a_key_that_is_not_the_cas_is_refused(tmp_path: Path) -> None:
    cert_file, _ = make_ca().write(tmp_path, "ca")
    _, other_key = make_ca().write(tmp_path, "other")
    with pytest.raises(ValueError, match="not the key"):
        ca.load_ca(cert_file, other_key)


def test_create_ca_makes_a_usable_ca_with_a_private_key_file(tmp_path: Path) -> None:
    cert, key = tmp_path / "ca.pem", tmp_path / "ca.key"
    assert ca.main(["create", "--cert", str(cert), "--key", str(key), "--days", "10"]) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    certs, _ = ca.load_ca(cert, key)
    assert certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.main(["create", "--cert", str(cert), "--key", str(key)]) == 1  # no overwrite


def test_load_signer_by_settings(tmp_path: Path) -> None:
    cert_file, key_file = make_ca().write(tmp_path, "ca")
    assert ca.load_signer(Settings(env="test")) is None
    builtin = ca.load_signer(
        Settings(env="test", ca_cert=str(cert_file), ca_key=str(key_file), ca_validity_days=7)
    )
    assert isinstance(builtin, ca.BuiltinSigner)
    assert builtin.validity == timedelta(days=7)
    plugged = ca.load_signer(Settings(env="test", ca_signer="tests.unit.test_ca:external"))
    assert isinstance(plugged, ExternalSigner)
    with pytest.raises(ValueError, match="go together"):
        Settings(env="test", ca_cert=str(cert_file))


class ExternalSigner:
    """What an external CA's client looks like to the CSMS."""

    certificate_types = frozenset({ca.CHARGING_STATION_CERTIFICATE, ca.V2G_CERTIFICATE})

    async def sign(
        self, csr: x509.CertificateSigningRequest, *, chargepoint_id: str, certificate_type: str
    ) -> ca.SignedChain:
        raise ca.SigningFailed("not reachable in a unit test")


def external(settings: Settings) -> ExternalSigner:
    return ExternalSigner()


def test_hash_data_matches_an_ocsp_cert_id() -> None:
    root = make_ca()
    data = ca.hash_data(root.cert, root.cert.public_key())
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(root.cert, root.cert, hashes.SHA256()).build()
    )
    assert data["issuerNameHash"] == request.issuer_name_hash.hex()
    assert data["issuerKeyHash"] == request.issuer_key_hash.hex()
    assert data["serialNumber"] == format(root.cert.serial_number, "x")
