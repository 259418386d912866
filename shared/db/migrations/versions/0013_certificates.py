"""Certificates the CSMS issues to charge points and those it knows are installed on them

- issued_certificate: one row per CSR the CSMS accepted (SignCertificate), its status
  (requested, signed, installed, rejected, failed), the signed chain, serial and validity,
  and the CertificateSigned command that carried it.
- installed_certificate: per charge point, the certificates InstallCertificate installed or
  GetInstalledCertificateIds reported (OCPP CertificateHashData), removed by DeleteCertificate.

Revision ID: 0013
Revises: 0009
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "issued_certificate",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("certificate_type", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("csr", sa.Text(), nullable=False),
        sa.Column("serial_number", sa.String(length=40), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate_chain", sa.Text(), nullable=True),
        sa.Column("command_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'signed', 'installed', 'rejected', 'failed')",
            name=op.f("ck_issued_certificate_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_certificate")),
        sa.UniqueConstraint("message_id", name=op.f("uq_issued_certificate_message_id")),
    )
    op.create_index(
        op.f("ix_issued_certificate_chargepoint_id_created_at"),
        "issued_certificate",
        ["chargepoint_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "installed_certificate",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("certificate_type", sa.String(length=50), nullable=False),
        sa.Column("hash_algorithm", sa.String(length=10), nullable=False),
        sa.Column("issuer_name_hash", sa.String(length=128), nullable=False),
        sa.Column("issuer_key_hash", sa.String(length=128), nullable=True),
        sa.Column("serial_number", sa.String(length=40), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=7), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "source IN ('install', 'report')", name=op.f("ck_installed_certificate_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installed_certificate")),
        sa.UniqueConstraint(
            "chargepoint_id",
            "hash_algorithm",
            "issuer_name_hash",
            "serial_number",
            name="uq_installed_certificate_identity",
        ),
    )


def downgrade() -> None:
    op.drop_table("installed_certificate")
    op.drop_index(
        op.f("ix_issued_certificate_chargepoint_id_created_at"), table_name="issued_certificate"
    )
    op.drop_table("issued_certificate")
