"""Site load balancing: balancing_decision and balancing_allocation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of shared.db.enums at this revision.
GRID_LIMIT_UNITS = ("W", "A")
BALANCING_STRATEGIES = ("equal", "by_connector_max")
PROFILE_INSTALLATION_STATUSES = ("Pending", "Installed", "Rejected", "Cleared", "Replaced")


def _in(name: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    """The CHECK constraint `name`: `column IN (values)`."""
    items = ", ".join(repr(v) for v in values)
    return sa.CheckConstraint(f"{column} IN ({items})", name=op.f(name))


def upgrade() -> None:
    op.create_table(
        "balancing_decision",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("location_uuid", sa.Uuid(), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=True),
        sa.Column("grid_limit", sa.Numeric(), nullable=False),
        sa.Column("unit", sa.String(length=1), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("allocations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sent", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _in("ck_balancing_decision_unit", "unit", GRID_LIMIT_UNITS),
        _in("ck_balancing_decision_strategy", "strategy", BALANCING_STRATEGIES),
        sa.ForeignKeyConstraint(
            ["location_uuid"],
            ["location.uuid"],
            name=op.f("fk_balancing_decision_location_uuid"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balancing_decision")),
    )
    op.create_index(
        op.f("ix_balancing_decision_location_uuid_computed_at"),
        "balancing_decision",
        ["location_uuid", "computed_at"],
        unique=False,
    )
    op.create_table(
        "balancing_allocation",
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("location_uuid", sa.Uuid(), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("connectorid", sa.Integer(), nullable=False),
        sa.Column("limit", sa.Numeric(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("installed_limit", sa.Numeric(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="Pending", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_balancing_allocation_status", "status", PROFILE_INSTALLATION_STATUSES),
        sa.ForeignKeyConstraint(
            ["location_uuid"],
            ["location.uuid"],
            name=op.f("fk_balancing_allocation_location_uuid"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transaction.transaction_id"],
            name=op.f("fk_balancing_allocation_transaction_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_balancing_allocation")),
    )
    op.create_index(
        op.f("ix_balancing_allocation_location_uuid"),
        "balancing_allocation",
        ["location_uuid"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_balancing_allocation_location_uuid"), table_name="balancing_allocation")
    op.drop_table("balancing_allocation")
    op.drop_index(
        op.f("ix_balancing_decision_location_uuid_computed_at"), table_name="balancing_decision"
    )
    op.drop_table("balancing_decision")
