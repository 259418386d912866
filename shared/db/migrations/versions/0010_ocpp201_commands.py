"""OCPP 2.0.1 commands: the command log's version and `refused` outcome; remoteStartId

- command_log.ocpp_version: the version a command's request was built for (NULL = 1.6, the
  rows written before), so its effects read it with the right model.
- command_log.outcome `refused`: the gateway did not send the command (schema, version).
- transaction.remote_start_id: the RequestStartTransaction's remoteStartId that started a
  2.0.1 transaction (indexed with the charge point: the command's effect looks it up).
- charging_profile.chargingprofile_purpose widened to 34 characters: the 2.0.1 purposes
  `ChargingStationMaxProfile` (25) and `ChargingStationExternalConstraints` (34).

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-30 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = ("pending", "result", "error", "offline", "timeout", "lost", "refused")
OUTCOMES_BEFORE = ("pending", "result", "error", "offline", "timeout", "lost")
VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


def _outcome_check(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_command_log_outcome"), "command_log", type_="check")
    items = ", ".join(repr(v) for v in values)
    op.create_check_constraint(
        op.f("ck_command_log_outcome"), "command_log", f"outcome IN ({items})"
    )


def upgrade() -> None:
    op.alter_column(
        "charging_profile",
        "chargingprofile_purpose",
        type_=sa.String(length=34),
        existing_type=sa.String(length=21),
        existing_nullable=False,
    )
    op.add_column("command_log", sa.Column("ocpp_version", sa.String(length=9), nullable=True))
    items = ", ".join(repr(v) for v in VERSIONS)
    op.create_check_constraint(
        op.f("ck_command_log_ocpp_version"), "command_log", f"ocpp_version IN ({items})"
    )
    _outcome_check(OUTCOMES)
    op.add_column("transaction", sa.Column("remote_start_id", sa.Integer(), nullable=True))
    op.create_index(
        op.f("ix_transaction_chargepoint_id_remote_start_id"),
        "transaction",
        ["chargepoint_id", "remote_start_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_transaction_chargepoint_id_remote_start_id"), table_name="transaction")
    op.drop_column("transaction", "remote_start_id")
    op.execute("UPDATE command_log SET outcome = 'error' WHERE outcome = 'refused'")
    _outcome_check(OUTCOMES_BEFORE)
    op.drop_constraint(op.f("ck_command_log_ocpp_version"), "command_log", type_="check")
    op.drop_column("command_log", "ocpp_version")
    op.alter_column(
        "charging_profile",
        "chargingprofile_purpose",
        type_=sa.String(length=21),
        existing_type=sa.String(length=34),
        existing_nullable=False,
    )
