"""Transactions that end: tag limits, rejected starts, CSMS closes, corrections, exact Wh

- id_tag: `max_active_transactions` (NULL = unlimited, CHECK >= 1). Existing tags: NULL.
- transaction: `wh_meter_start/stop/last` INTEGER -> NUMERIC (2.0.1 readings have decimals);
  status adds `Rejected`; reason_stopped adds `Superseded`, `Stale`, `Rebooted`,
  `Administrative`; new `authorization_status`, `closed_by`, `close_note`, `corrected_at`,
  `estimated_*` (the close a later stop corrected), `idle_since`, `rebooted_at`,
  `seq_no_max`, `missing_seq_nos`; index (status, idle_since).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of shared.db.enums at this revision (and at 0001, for the downgrade).
OCPP_STOP_REASONS = (
    "EmergencyStop",
    "EVDisconnected",
    "HardReset",
    "Local",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
    "SoftReset",
    "UnlockCommand",
    "DeAuthorized",
    "EnergyLimitReached",
    "GroundFault",
    "ImmediateReset",
    "LocalOutOfCredit",
    "MasterPass",
    "OvercurrentFault",
    "PowerQuality",
    "SOCLimitReached",
    "StoppedByEV",
    "TimeLimitReached",
    "Timeout",
)
STOP_REASONS = (*OCPP_STOP_REASONS, "Superseded", "Stale", "Rebooted", "Administrative")
TRANSACTION_STATUSES = ("Active", "Completed", "Rejected")
TRANSACTION_STATUSES_0001 = ("Active", "Completed")
AUTHORIZATION_STATUSES = (
    "Accepted",
    "Blocked",
    "Expired",
    "Invalid",
    "ConcurrentTx",
    "NoCredit",
    "NotAllowedTypeEVSE",
    "NotAtThisLocation",
    "NotAtThisTime",
    "Unknown",
)
WH_COLUMNS = ("wh_meter_start", "wh_meter_stop", "wh_meter_last")


def _in(column: str, values: tuple[str, ...]) -> str:
    items = ", ".join(repr(v) for v in values)
    return f"{column} IN ({items})"


def _replace_check(column: str, values: tuple[str, ...]) -> None:
    name = op.f(f"ck_transaction_{column}")
    op.drop_constraint(name, "transaction", type_="check")
    op.create_check_constraint(name, "transaction", _in(column, values))


def upgrade() -> None:
    op.add_column("id_tag", sa.Column("max_active_transactions", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_id_tag_max_active_transactions_positive"),
        "id_tag",
        "max_active_transactions >= 1",
    )
    for column in WH_COLUMNS:
        op.alter_column(
            "transaction",
            column,
            type_=sa.Numeric(),
            existing_type=sa.Integer(),
            postgresql_using=f"{column}::numeric",
        )
    _replace_check("status", TRANSACTION_STATUSES)
    _replace_check("reason_stopped", STOP_REASONS)
    columns: list[sa.Column[object]] = [
        sa.Column("authorization_status", sa.String(length=20), nullable=True),
        sa.Column("closed_by", sa.String(length=320), nullable=True),
        sa.Column("close_note", sa.String(length=500), nullable=True),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("estimated_wh_meter_stop", sa.Numeric(), nullable=True),
        sa.Column("estimated_stop_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("estimated_reason_stopped", sa.String(length=50), nullable=True),
        sa.Column("estimated_closed_by", sa.String(length=320), nullable=True),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rebooted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seq_no_max", sa.Integer(), nullable=True),
        sa.Column("missing_seq_nos", postgresql.ARRAY(sa.Integer()), nullable=True),
    ]
    for new_column in columns:
        op.add_column("transaction", new_column)
    op.create_check_constraint(
        op.f("ck_transaction_estimated_reason_stopped"),
        "transaction",
        _in("estimated_reason_stopped", STOP_REASONS),
    )
    op.create_check_constraint(
        op.f("ck_transaction_authorization_status"),
        "transaction",
        _in("authorization_status", AUTHORIZATION_STATUSES),
    )
    op.create_index(
        op.f("ix_transaction_status_idle_since"), "transaction", ["status", "idle_since"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_transaction_status_idle_since"), table_name="transaction")
    for name in ("ck_transaction_authorization_status", "ck_transaction_estimated_reason_stopped"):
        op.drop_constraint(op.f(name), "transaction", type_="check")
    for column in (
        "missing_seq_nos",
        "seq_no_max",
        "rebooted_at",
        "idle_since",
        "estimated_closed_by",
        "estimated_reason_stopped",
        "estimated_stop_timestamp",
        "estimated_wh_meter_stop",
        "corrected_at",
        "close_note",
        "closed_by",
        "authorization_status",
    ):
        op.drop_column("transaction", column)
    # 0004 knows neither the rejected status nor the CSMS's own reasons.
    op.execute("UPDATE \"transaction\" SET status = 'Completed' WHERE status = 'Rejected'")
    op.execute(
        "UPDATE \"transaction\" SET reason_stopped = 'Other' WHERE reason_stopped IN "
        "('Superseded', 'Stale', 'Rebooted', 'Administrative')"
    )
    _replace_check("reason_stopped", OCPP_STOP_REASONS)
    _replace_check("status", TRANSACTION_STATUSES_0001)
    for column in WH_COLUMNS:
        op.alter_column(
            "transaction",
            column,
            type_=sa.Integer(),
            existing_type=sa.Numeric(),
            postgresql_using=f"round({column})::integer",
        )
    op.drop_constraint(op.f("ck_id_tag_max_active_transactions_positive"), "id_tag", type_="check")
    op.drop_column("id_tag", "max_active_transactions")
