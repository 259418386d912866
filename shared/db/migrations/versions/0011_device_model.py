"""OCPP 2.0.1 device model: components, variables, attributes, monitors; reports; display messages

- device_component / device_variable / device_variable_attribute / device_monitor: the device
  model of each 2.0.1 station, keyed by what the station reports (NULLS NOT DISTINCT: a
  component without instance or EVSE is one row), so repeated reports upsert.
- device_report / device_report_part: the reports the CSMS asked for (requestId) and their
  parts (seqNo, stored once whatever the resends).
- display_message: the messages a station shows (NotifyDisplayMessages, SetDisplayMessage).
- chargepoint.publish_firmware_status (L03) and base_report_requested_at (the FullInventory
  asked after the first Accepted boot, once).

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30 05:42:06.556613
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

PUBLISH_FIRMWARE_STATUSES = (
    "Idle",
    "DownloadScheduled",
    "Downloading",
    "Downloaded",
    "Published",
    "DownloadFailed",
    "DownloadPaused",
    "InvalidChecksum",
    "ChecksumVerified",
    "PublishFailed",
)

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_report_part",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=25), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("tbc", sa.Boolean(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("items", sa.Integer(), server_default="0", nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("message_key", sa.String(length=64), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "chargepoint_id", "kind", "request_id", "seq_no", name=op.f("pk_device_report_part")
        ),
    )
    op.create_table(
        "device_component",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("instance", sa.String(length=50), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_device_component_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_component")),
        sa.UniqueConstraint(
            "chargepoint_id",
            "name",
            "instance",
            "evse_id",
            "connector_id",
            name="uq_device_component_identity",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "device_report",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=25), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=20), nullable=True),
        sa.Column("command_status", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("parts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_seq_no", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('NotifyReport', 'NotifyMonitoringReport', 'NotifyCustomerInformation',"
            " 'NotifyDisplayMessages')",
            name=op.f("ck_device_report_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('Requested', 'Receiving', 'Complete', 'Refused')",
            name=op.f("ck_device_report_status"),
        ),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_device_report_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "chargepoint_id", "kind", "request_id", name=op.f("pk_device_report")
        ),
    )
    op.create_index(
        op.f("ix_device_report_chargepoint_id_requested_at"),
        "device_report",
        ["chargepoint_id", "requested_at"],
        unique=False,
    )
    op.create_table(
        "display_message",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=True),
        sa.Column("start_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_date_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transaction_id", sa.String(length=36), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("display_name", sa.String(length=50), nullable=True),
        sa.Column("display_evse_id", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "format IN ('ASCII', 'HTML', 'URI', 'UTF8')", name=op.f("ck_display_message_format")
        ),
        sa.CheckConstraint(
            "priority IN ('AlwaysFront', 'InFront', 'NormalCycle')",
            name=op.f("ck_display_message_priority"),
        ),
        sa.CheckConstraint(
            "state IN ('Charging', 'Faulted', 'Idle', 'Unavailable')",
            name=op.f("ck_display_message_state"),
        ),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_display_message_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chargepoint_id", "message_id", name=op.f("pk_display_message")),
    )
    op.create_table(
        "device_variable",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("component_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("instance", sa.String(length=50), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("data_type", sa.String(length=20), nullable=True),
        sa.Column("min_limit", sa.Numeric(), nullable=True),
        sa.Column("max_limit", sa.Numeric(), nullable=True),
        sa.Column("values_list", sa.Text(), nullable=True),
        sa.Column("supports_monitoring", sa.Boolean(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "data_type IN ('string', 'decimal', 'integer', 'dateTime', 'boolean',"
            " 'OptionList', 'SequenceList', 'MemberList', 'passwordString')",
            name=op.f("ck_device_variable_data_type"),
        ),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_device_variable_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["device_component.id"],
            name=op.f("fk_device_variable_component_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_variable")),
        sa.UniqueConstraint(
            "component_id",
            "name",
            "instance",
            name="uq_device_variable_identity",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        op.f("ix_device_variable_chargepoint_id_name"),
        "device_variable",
        ["chargepoint_id", "name"],
        unique=False,
    )
    op.create_table(
        "device_monitor",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("variable_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('UpperThreshold', 'LowerThreshold', 'Delta',"
            " 'Periodic', 'PeriodicClockAligned')",
            name=op.f("ck_device_monitor_type"),
        ),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_device_monitor_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variable_id"],
            ["device_variable.id"],
            name=op.f("fk_device_monitor_variable_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chargepoint_id", "monitor_id", name=op.f("pk_device_monitor")),
    )
    op.create_index(
        op.f("ix_device_monitor_variable_id"), "device_monitor", ["variable_id"], unique=False
    )
    op.create_table(
        "device_variable_attribute",
        sa.Column("variable_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=7), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("mutability", sa.String(length=9), nullable=True),
        sa.Column("persistent", sa.Boolean(), nullable=True),
        sa.Column("constant", sa.Boolean(), nullable=True),
        sa.Column("reboot_required", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "mutability IN ('ReadOnly', 'WriteOnly', 'ReadWrite')",
            name=op.f("ck_device_variable_attribute_mutability"),
        ),
        sa.CheckConstraint(
            "type IN ('Actual', 'Target', 'MinSet', 'MaxSet')",
            name=op.f("ck_device_variable_attribute_type"),
        ),
        sa.ForeignKeyConstraint(
            ["variable_id"],
            ["device_variable.id"],
            name=op.f("fk_device_variable_attribute_variable_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variable_id", "type", name=op.f("pk_device_variable_attribute")),
    )
    op.add_column(
        "chargepoint", sa.Column("publish_firmware_status", sa.String(length=50), nullable=True)
    )
    op.add_column(
        "chargepoint",
        sa.Column("base_report_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    items = ", ".join(repr(v) for v in PUBLISH_FIRMWARE_STATUSES)
    op.create_check_constraint(
        op.f("ck_chargepoint_publish_firmware_status"),
        "chargepoint",
        f"publish_firmware_status IN ({items})",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_chargepoint_publish_firmware_status"), "chargepoint", type_="check")
    op.drop_column("chargepoint", "base_report_requested_at")
    op.drop_column("chargepoint", "publish_firmware_status")
    op.drop_table("device_variable_attribute")
    op.drop_index(op.f("ix_device_monitor_variable_id"), table_name="device_monitor")
    op.drop_table("device_monitor")
    op.drop_index(op.f("ix_device_variable_chargepoint_id_name"), table_name="device_variable")
    op.drop_table("device_variable")
    op.drop_table("display_message")
    op.drop_index(op.f("ix_device_report_chargepoint_id_requested_at"), table_name="device_report")
    op.drop_table("device_report")
    op.drop_table("device_component")
    op.drop_table("device_report_part")
