"""Whether the registry accepts a SignCertificate: the signer's configuration and the CSR
checks (services/registry/certificates.py `refusal_reason`)."""

from __future__ import annotations

from pathlib import Path

from services.registry.certificates import refusal_reason
from shared.ca import CHARGING_STATION_CERTIFICATE, V2G_CERTIFICATE
from shared.settings import Settings
from tests.fixtures.pki import make_ca, make_csr


def test_refusals_by_configuration_and_csr(tmp_path: Path) -> None:
    cert, key = make_ca().write(tmp_path, "ca")
    configured = Settings(env="test", ca_cert=str(cert), ca_key=str(key))
    csr = make_csr("CP-1")[0]
    assert refusal_reason(configured, "CP-1", csr, CHARGING_STATION_CERTIFICATE) is None
    unconfigured = refusal_reason(Settings(env="test"), "CP-1", csr, CHARGING_STATION_CERTIFICATE)
    assert unconfigured is not None and "no CA is configured" in unconfigured
    v2g = refusal_reason(configured, "CP-1", csr, V2G_CERTIFICATE)
    assert v2g == "the configured CA does not sign a V2GCertificate"
    wrong = refusal_reason(configured, "CP-2", csr, CHARGING_STATION_CERTIFICATE)
    assert wrong is not None and "is not the charge point id 'CP-2'" in wrong
    organisation = configured.model_copy(update={"gateway_client_cert_organization": "Other CSO"})
    refused_o = refusal_reason(organisation, "CP-1", csr, CHARGING_STATION_CERTIFICATE)
    assert refused_o is not None and "subject O 'Test CSO' is not 'Other CSO'" in refused_o
