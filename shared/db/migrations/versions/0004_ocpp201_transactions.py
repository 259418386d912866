"""OCPP 2.0.1 transactions: unique (chargepoint_id, remote_transaction_id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_unique_constraint(
        op.f("uq_transaction_chargepoint_id_remote_transaction_id"),
        "transaction",
        ["chargepoint_id", "remote_transaction_id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_transaction_chargepoint_id_remote_transaction_id"), "transaction", type_="unique"
    )
