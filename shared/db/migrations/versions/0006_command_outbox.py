"""Command log as the outbox of command effects; reservations unique per charge point

- command_log: `seq` (per charge point, unique with chargepoint_id), `expires_at`, outcome
  `lost`, partial index of pending rows (the sweeper's look-up).
- command_sequence: the last seq given per charge point (its row lock orders completions).
- command_effect_cursor: per (consumer, charge point), the last seq applied.
- reservation: unique (chargepoint_id, reservation_id) instead of unique reservation_id
  (OCPP reservation ids are chosen by the sender, per charge point).

Rows completed before this migration keep seq NULL: their effects were applied already.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = ("pending", "result", "error", "offline", "timeout", "lost")
OUTCOMES_BEFORE = ("pending", "result", "error", "offline", "timeout")


def _outcome_check(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_command_log_outcome"), "command_log", type_="check")
    items = ", ".join(repr(v) for v in values)
    op.create_check_constraint(
        op.f("ck_command_log_outcome"), "command_log", f"outcome IN ({items})"
    )


def upgrade() -> None:
    op.add_column("command_log", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("command_log", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_unique_constraint(
        op.f("uq_command_log_chargepoint_id_seq"), "command_log", ["chargepoint_id", "seq"]
    )
    op.create_index(
        "ix_command_log_pending",
        "command_log",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("outcome = 'pending'"),
    )
    _outcome_check(OUTCOMES)
    op.create_table(
        "command_sequence",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("chargepoint_id", name=op.f("pk_command_sequence")),
    )
    op.create_table(
        "command_effect_cursor",
        sa.Column("consumer", sa.String(length=32), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("applied_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "consumer", "chargepoint_id", name=op.f("pk_command_effect_cursor")
        ),
    )
    op.drop_constraint(op.f("uq_reservation_reservation_id"), "reservation", type_="unique")
    op.create_unique_constraint(
        op.f("uq_reservation_chargepoint_id_reservation_id"),
        "reservation",
        ["chargepoint_id", "reservation_id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_reservation_chargepoint_id_reservation_id"), "reservation", type_="unique"
    )
    # Fails if two charge points hold the same reservation id (as it should: it cannot be kept).
    op.create_unique_constraint(
        op.f("uq_reservation_reservation_id"), "reservation", ["reservation_id"]
    )
    op.drop_table("command_effect_cursor")
    op.drop_table("command_sequence")
    op.execute("UPDATE command_log SET outcome = 'timeout' WHERE outcome = 'lost'")
    _outcome_check(OUTCOMES_BEFORE)
    op.drop_index("ix_command_log_pending", table_name="command_log")
    op.drop_constraint(op.f("uq_command_log_chargepoint_id_seq"), "command_log", type_="unique")
    op.drop_column("command_log", "seq")
    op.drop_column("command_log", "expires_at")
