"""Security events: what charge points report (SecurityEventNotification) and what the CSMS
records about them (connections refused below their security profile, profile upgrades)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import BigInteger, Identity, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import enums
from shared.db.base import Base, enum_check


class SecurityEvent(Base):
    """One security event of a charge point; `chargepoint_id` has no foreign key (unknown
    ids are recorded too)."""

    __tablename__ = "security_event"
    __table_args__ = (
        # A redelivered SecurityEventNotification carries the same correlation id: one row.
        UniqueConstraint("message_id"),
        Index(None, "chargepoint_id", "occurred_at"),
        # The API listing's order and keyset (occurred_at, id).
        Index(None, "occurred_at", "id"),
        enum_check("source", enums.SECURITY_EVENT_SOURCES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(11))
    # 2.0.1 Appendix 1 security event types (1.6 whitepaper: the same list), max 50 chars.
    type: Mapped[str] = mapped_column(String(50))
    tech_info: Mapped[str | None] = mapped_column(Text)
    remote_ip: Mapped[str | None] = mapped_column(String(45))
    # The envelope's correlation id of a SecurityEventNotification (NULL for the CSMS's own).
    message_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class IssuedCertificate(Base):
    """A certificate the CSMS had signed for a charge point (SignCertificate ->
    CertificateSigned); one row per accepted CSR (`message_id`: the SignCertificate's
    correlation id, so a redelivered request is one row)."""

    __tablename__ = "issued_certificate"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index(None, "chargepoint_id", "created_at"),
        enum_check("status", enums.ISSUED_CERTIFICATE_STATUSES),
    )

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    # 2.0.1 CertificateSigningUseEnumType; 1.6 has only the charge point certificate.
    certificate_type: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(10))
    csr: Mapped[str] = mapped_column(Text)
    # Hex, no leading zeros, lowercase (OCPP CertificateHashDataType.serialNumber).
    serial_number: Mapped[str | None] = mapped_column(String(40))
    not_before: Mapped[datetime | None]
    not_after: Mapped[datetime | None]
    certificate_chain: Mapped[str | None] = mapped_column(Text)
    # The CertificateSigned command's command_log id.
    command_id: Mapped[UUID | None]
    error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class InstalledCertificate(Base):
    """A certificate installed on a charge point, as far as the CSMS knows: sent with
    InstallCertificate and Accepted (source `install`), or reported by
    GetInstalledCertificateIds (source `report`); DeleteCertificate Accepted removes it.
    Identified as OCPP does (CertificateHashDataType): issuer name hash and serial number."""

    __tablename__ = "installed_certificate"
    __table_args__ = (
        UniqueConstraint(
            "chargepoint_id",
            "hash_algorithm",
            "issuer_name_hash",
            "serial_number",
            name="uq_installed_certificate_identity",
        ),
        enum_check("source", enums.INSTALLED_CERTIFICATE_SOURCES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    # 1.6 CertificateUse / 2.0.1 GetCertificateIdUseEnumType / InstallCertificateUseEnumType.
    certificate_type: Mapped[str] = mapped_column(String(50))
    hash_algorithm: Mapped[str] = mapped_column(String(10))
    issuer_name_hash: Mapped[str] = mapped_column(String(128))
    # NULL: not computable (a certificate not self-signed sent without its issuer).
    issuer_key_hash: Mapped[str | None] = mapped_column(String(128))
    serial_number: Mapped[str] = mapped_column(String(40))
    certificate: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(7))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
