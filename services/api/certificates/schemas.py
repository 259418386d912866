"""Certificates of a charge point: those the CSMS issued and those installed on it."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from services.api.common import ReadModel, UtcDateTime


class IssuedCertificateRead(ReadModel):
    """A certificate the CSMS had signed for the charge point (SignCertificate ->
    CertificateSigned). `status`: requested (CSR accepted, not signed yet), signed
    (CertificateSigned on its way), installed (the charge point accepted it), rejected (it
    answered Rejected), failed (not signed, or CertificateSigned got no answer: `error`)."""

    id: UUID
    chargepoint_id: str
    certificate_type: str
    status: Literal["requested", "signed", "installed", "rejected", "failed"]
    serial_number: str | None = None
    not_before: UtcDateTime | None = None
    not_after: UtcDateTime | None = None
    certificate_chain: str | None = None
    command_id: UUID | None = None
    error: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class InstalledCertificateRead(ReadModel):
    """A certificate installed on the charge point as far as the CSMS knows (OCPP
    CertificateHashData): `source` install (InstallCertificate Accepted) or report
    (GetInstalledCertificateIds)."""

    certificate_type: str
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str | None = None
    serial_number: str
    certificate: str | None = None
    source: Literal["install", "report"]
    updated_at: UtcDateTime


class ChargePointCertificatesRead(ReadModel):
    """What the CSMS knows of a charge point's certificates."""

    chargepoint_id: str
    issued: list[IssuedCertificateRead]
    """Newest first."""
    installed: list[InstalledCertificateRead]
