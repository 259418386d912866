"""Log tables: time-leading indexes for keyset listings and `csms prune`; unused indexes dropped

- btree (time, id) on ocpp_message, heartbeat, status_notification, command_log,
  balancing_decision: the API lists them newest first and pages by keyset on (time, id);
  `csms prune` deletes by time in batches (each batch an index range scan, not a table scan).
- btree (received_at) on data_transfer: `csms prune` (a BRIN index would be cheaper to
  insert into, but cannot hand out the oldest N rows in order, which each batch needs).
- ix_ocpp_message_action dropped: no query leads with the action (the listing filters on it
  while reading the time index), and every frame logged paid for it.
- ix_command_log_chargepoint_id becomes (chargepoint_id, created_at): the filtered listing.

On a large live database, create the new indexes beforehand with CREATE INDEX CONCURRENTLY
under the same names: the migration skips indexes that exist.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 23:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME_INDEXES = (
    ("ocpp_message", ["created_at", "id"]),
    ("heartbeat", ["timestamp", "id"]),
    ("status_notification", ["received_at", "id"]),
    ("command_log", ["created_at", "id"]),
    ("command_log", ["chargepoint_id", "created_at"]),
    ("balancing_decision", ["computed_at", "id"]),
)


def _name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, columns in _TIME_INDEXES:
        op.create_index(op.f(_name(table, columns)), table, columns, if_not_exists=True)
    op.create_index(
        op.f("ix_data_transfer_received_at"), "data_transfer", ["received_at"], if_not_exists=True
    )
    op.drop_index(op.f("ix_ocpp_message_action"), table_name="ocpp_message", if_exists=True)
    op.drop_index(op.f("ix_command_log_chargepoint_id"), table_name="command_log", if_exists=True)


def downgrade() -> None:
    op.create_index(op.f("ix_command_log_chargepoint_id"), "command_log", ["chargepoint_id"])
    op.create_index(op.f("ix_ocpp_message_action"), "ocpp_message", ["action"])
    op.drop_index(op.f("ix_data_transfer_received_at"), table_name="data_transfer")
    for table, columns in reversed(_TIME_INDEXES):
        op.drop_index(op.f(_name(table, columns)), table_name=table)
