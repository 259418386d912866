"""Security profile per charge point (never downgraded) and the security event table

- chargepoint.security_profile (0-3, default 0): the profile a connection must present;
  charge points with a password start at 1 (what the gateway required of them already).
- chargepoint.pending_security_profile: a higher profile set through the API, stored as the
  profile once the station connects with it.
- chargepoint.pending_password_hash: a rotated password the station accepted, verified beside
  the old one until the station connects with it.
- security_event: SecurityEventNotifications of charge points (source chargepoint, one row per
  message id) and what the CSMS records (source csms: refused connections, profile upgrades);
  listed by the API newest first (index occurred_at, id).

Revision ID: 0008
Revises: 0010
Create Date: 2026-11-30 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0010"  # after main's 0010 (wip/v201); the lead re-chains
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "chargepoint",
        sa.Column("security_profile", sa.SmallInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "chargepoint", sa.Column("pending_security_profile", sa.SmallInteger(), nullable=True)
    )
    op.add_column(
        "chargepoint", sa.Column("pending_password_hash", sa.String(length=255), nullable=True)
    )
    for column in ("security_profile", "pending_security_profile"):
        op.create_check_constraint(
            op.f(f"ck_chargepoint_{column}"), "chargepoint", f"{column} IN (0, 1, 2, 3)"
        )
    op.execute("UPDATE chargepoint SET security_profile = 1 WHERE password_hash IS NOT NULL")
    op.create_table(
        "security_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=11), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("tech_info", sa.Text(), nullable=True),
        sa.Column("remote_ip", sa.String(length=45), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('chargepoint', 'csms')", name=op.f("ck_security_event_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
        sa.UniqueConstraint("message_id", name=op.f("uq_security_event_message_id")),
    )
    op.create_index(
        op.f("ix_security_event_occurred_at_id"),
        "security_event",
        ["occurred_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_security_event_chargepoint_id_occurred_at"),
        "security_event",
        ["chargepoint_id", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_security_event_occurred_at_id"), table_name="security_event")
    op.drop_index(op.f("ix_security_event_chargepoint_id_occurred_at"), table_name="security_event")
    op.drop_table("security_event")
    op.drop_column("chargepoint", "pending_password_hash")
    for column in ("pending_security_profile", "security_profile"):
        op.drop_constraint(op.f(f"ck_chargepoint_{column}"), "chargepoint", type_="check")
        op.drop_column("chargepoint", column)
