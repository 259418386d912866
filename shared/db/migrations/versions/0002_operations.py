"""Operations follow-ups: connection identity, wh_meter_last_at, charge point reservations

- chargepoint: `connection_id`, `connected_node`, `connected_at` (the socket that holds it).
- transaction: `wh_meter_last_at` (timestamp of the reading behind `wh_meter_last`).
- reservation: `chargepoint_id` (FK, CASCADE) + `connectorid`; `connector_uuid` nullable
  (connectorId 0 = any connector of the charge point has no connector row).
- id_tag: index on `lower(id_token)` (case-insensitive tag lookup).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("chargepoint", sa.Column("connection_id", sa.String(length=32), nullable=True))
    op.add_column("chargepoint", sa.Column("connected_node", sa.String(length=200), nullable=True))
    op.add_column(
        "chargepoint", sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True)
    )

    op.add_column(
        "transaction", sa.Column("wh_meter_last_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Completed: the stop reading is the last. Active: the newest stored total register
    # reading in Wh/kWh (what set wh_meter_last), else the start.
    op.execute(
        """
        UPDATE "transaction" AS t
        SET wh_meter_last_at = CASE
            WHEN t.status = 'Completed' AND t.stop_transaction_timestamp IS NOT NULL
                THEN t.stop_transaction_timestamp
            ELSE GREATEST(
                t.start_transaction_timestamp,
                (SELECT max(m.timestamp) FROM meter_value AS m
                 WHERE m.transaction_id = t.transaction_id
                   AND m.chargepoint_id = t.chargepoint_id
                   AND m.measurand = 'Energy.Active.Import.Register'
                   AND m.phase IS NULL
                   AND m.unit IN ('Wh', 'kWh')
                   AND (m.format IS NULL OR m.format = 'Raw')
                   AND m.value_numeric IS NOT NULL))
        END
        """
    )

    op.add_column("reservation", sa.Column("chargepoint_id", sa.String(length=255), nullable=True))
    op.add_column("reservation", sa.Column("connectorid", sa.Integer(), nullable=True))
    # Every existing reservation has a connector: its charge point and number.
    op.execute(
        """
        UPDATE reservation AS r
        SET chargepoint_id = c.chargepoint_id, connectorid = c.connectorid
        FROM connector AS c
        WHERE c.uuid = r.connector_uuid
        """
    )
    op.alter_column("reservation", "connector_uuid", existing_type=sa.Uuid(), nullable=True)
    op.create_foreign_key(
        op.f("fk_reservation_chargepoint_id"),
        "reservation",
        "chargepoint",
        ["chargepoint_id"],
        ["chargepoint_id"],
        ondelete="CASCADE",
    )
    op.create_index(
        op.f("ix_reservation_chargepoint_id"), "reservation", ["chargepoint_id"], unique=False
    )

    op.create_index("ix_id_tag_lower_id_token", "id_tag", [sa.text("lower(id_token)")])


def downgrade() -> None:
    op.drop_index("ix_id_tag_lower_id_token", table_name="id_tag")

    op.drop_index(op.f("ix_reservation_chargepoint_id"), table_name="reservation")
    op.drop_constraint(op.f("fk_reservation_chargepoint_id"), "reservation", type_="foreignkey")
    # 0001 requires a connector: reservations of connectorId 0 (or of a connector never
    # reported) cannot be represented there and are dropped.
    op.execute("DELETE FROM reservation WHERE connector_uuid IS NULL")
    op.alter_column("reservation", "connector_uuid", existing_type=sa.Uuid(), nullable=False)
    op.drop_column("reservation", "connectorid")
    op.drop_column("reservation", "chargepoint_id")

    op.drop_column("transaction", "wh_meter_last_at")

    op.drop_column("chargepoint", "connected_at")
    op.drop_column("chargepoint", "connected_node")
    op.drop_column("chargepoint", "connection_id")
