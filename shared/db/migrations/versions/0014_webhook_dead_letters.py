"""Webhook dead letters; the reservation expiry sweep's index

- webhook_dead_letter: deliveries that stayed undelivered through their retry window, kept
  apart from the pruned delivery log until replayed (docs/events.md).
- ix_reservation_active_expiry: Active reservations by expiry date (the expiry sweep,
  services/transactions/reservation_expiry.py).

Revision ID: 0014
Revises: 0009
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "webhook_dead_letter",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("lane", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_webhook_dead_letter_endpoint_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_dead_letter")),
        sa.UniqueConstraint(
            "endpoint_id", "event_id", name=op.f("uq_webhook_dead_letter_endpoint_id_event_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_dead_letter_endpoint_id_dead_at"),
        "webhook_dead_letter",
        ["endpoint_id", "dead_at"],
    )
    op.create_index(
        "ix_reservation_active_expiry",
        "reservation",
        ["expiry_date"],
        postgresql_where=sa.text("status = 'Active'"),
    )


def downgrade() -> None:
    op.drop_index("ix_reservation_active_expiry", table_name="reservation")
    op.drop_table("webhook_dead_letter")
