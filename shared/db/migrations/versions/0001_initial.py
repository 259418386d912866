"""Initial schema: every table of the domain

Revision ID: 0001
Revises:
Create Date: 2026-11-25 16:57:10.320118
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Value sets as they were at this revision (frozen copies of shared.db.enums; a later change
# to a set is a new migration that drops and re-creates its CHECK constraint).
AVAILABILITY_STATUSES = ("Operative", "Inoperative", "Scheduled")
BALANCING_STRATEGIES = ("equal", "by_connector_max")
CHARGEPOINT_STATUSES = ("Available", "Unavailable", "Faulted")
CHARGING_PROFILE_KINDS = ("Absolute", "Recurring", "Relative")
CHARGING_PROFILE_PURPOSES = (
    "ChargePointMaxProfile",
    "TxDefaultProfile",
    "TxProfile",
    "ChargingStationExternalConstraints",
    "ChargingStationMaxProfile",
)
CHARGING_RATE_UNITS = ("W", "A")
COMMAND_OUTCOMES = ("pending", "result", "error", "offline", "timeout")
CONNECTOR_ERROR_CODES = (
    "ConnectorLockFailure",
    "EVCommunicationError",
    "GroundFailure",
    "HighTemperature",
    "InternalError",
    "LocalListConflict",
    "NoError",
    "OtherError",
    "OverCurrentFailure",
    "OverVoltage",
    "PowerMeterFailure",
    "PowerSwitchFailure",
    "ReaderFailure",
    "ResetFailure",
    "UnderVoltage",
    "WeakSignal",
)
CONNECTOR_STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
    "Occupied",
)
DIAGNOSTICS_STATUSES = (
    "Idle",
    "Uploaded",
    "UploadFailed",
    "Uploading",
    "BadMessage",
    "NotSupportedOperation",
    "PermissionDenied",
    "UploadFailure",
    "AcceptedCanceled",
)
DIRECTIONS = ("in", "out")
FIRMWARE_STATUSES = (
    "Downloaded",
    "DownloadFailed",
    "Downloading",
    "Idle",
    "InstallationFailed",
    "Installing",
    "Installed",
    "DownloadScheduled",
    "DownloadPaused",
    "InstallRebooting",
    "InstallScheduled",
    "InstallVerificationFailed",
    "InvalidSignature",
    "SignatureVerified",
)
LOCATION_TYPES = (
    "on_street",
    "parking_garage",
    "underground_garage",
    "parking_lot",
    "private",
    "other",
)
MESSAGE_TYPES = (2, 3, 4, 5, 6)
OCPP_VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
PROFILE_INSTALLATION_STATUSES = ("Pending", "Installed", "Rejected", "Cleared", "Replaced")
RECURRENCY_KINDS = ("Daily", "Weekly")
REGISTRATION_STATUSES = ("Accepted", "Pending", "Rejected")
RESERVATION_STATUSES = ("Active", "Used", "Cancelled", "Expired")
STOP_REASONS = (
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
TRANSACTION_STATUSES = ("Active", "Completed")
USER_ROLES = ("admin", "operator", "driver")


def _in(name: str, column: str, values: tuple[str | int, ...]) -> sa.CheckConstraint:
    """The CHECK constraint `name`: `column IN (values)`."""
    items = ", ".join(repr(v) for v in values)
    return sa.CheckConstraint(f"{column} IN ({items})", name=op.f(name))


def upgrade() -> None:
    # Hand-checked against shared.db.models (tests/integration/db compares them).
    op.create_table(
        "command_log",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_description", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=320), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        _in("ck_command_log_outcome", "outcome", COMMAND_OUTCOMES),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_log")),
    )
    op.create_index(
        op.f("ix_command_log_chargepoint_id"), "command_log", ["chargepoint_id"], unique=False
    )
    op.create_table(
        "data_transfer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("vendor_id", sa.String(length=255), nullable=False),
        sa.Column("data_message_id", sa.String(length=50), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        _in("ck_data_transfer_direction", "direction", DIRECTIONS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_transfer")),
        sa.UniqueConstraint("message_id", name=op.f("uq_data_transfer_message_id")),
    )
    op.create_index(
        op.f("ix_data_transfer_chargepoint_id_received_at"),
        "data_transfer",
        ["chargepoint_id", "received_at"],
        unique=False,
    )
    op.create_table(
        "location",
        sa.Column("uuid", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=20), server_default="other", nullable=False),
        sa.Column("street_address", sa.String(length=255), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("city", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=20), nullable=False),
        sa.Column("grid_limit", sa.Numeric(), nullable=True),
        sa.Column("grid_limit_unit", sa.String(length=1), nullable=True),
        sa.Column("balancing_strategy", sa.String(length=20), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_location_balancing_strategy", "balancing_strategy", BALANCING_STRATEGIES),
        _in("ck_location_grid_limit_unit", "grid_limit_unit", CHARGING_RATE_UNITS),
        _in("ck_location_type", "type", LOCATION_TYPES),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_location")),
    )
    op.create_table(
        "meter_value",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("connectorid", sa.Integer(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "measurand",
            sa.String(length=64),
            server_default="Energy.Active.Import.Register",
            nullable=False,
        ),
        sa.Column("phase", sa.String(length=8), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("context", sa.String(length=32), nullable=True),
        sa.Column("location", sa.String(length=16), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_numeric", sa.Numeric(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_value")),
        sa.UniqueConstraint("message_id", "seq", name=op.f("uq_meter_value_message_id_seq")),
    )
    op.create_index(
        op.f("ix_meter_value_chargepoint_id"), "meter_value", ["chargepoint_id"], unique=False
    )
    op.create_index(
        op.f("ix_meter_value_transaction_id_timestamp"),
        "meter_value",
        ["transaction_id", "timestamp"],
        unique=False,
    )
    op.create_table(
        "ocpp_message",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("message_type", sa.SmallInteger(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("unique_id", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_description", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_ocpp_message_direction", "direction", DIRECTIONS),
        _in("ck_ocpp_message_message_type", "message_type", MESSAGE_TYPES),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpp_message")),
        sa.UniqueConstraint(
            "message_id",
            "direction",
            "message_type",
            name=op.f("uq_ocpp_message_message_id_direction_message_type"),
        ),
    )
    op.create_index(op.f("ix_ocpp_message_action"), "ocpp_message", ["action"], unique=False)
    op.create_index(
        op.f("ix_ocpp_message_chargepoint_id_created_at"),
        "ocpp_message",
        ["chargepoint_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_user_account_role", "role", USER_ROLES),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_user_account_email_lowercase")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _in("ck_api_key_role", "role", USER_ROLES),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_api_key_created_by"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
    )
    op.create_index(op.f("ix_api_key_prefix"), "api_key", ["prefix"], unique=True)
    op.create_table(
        "chargepoint",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("chargepoint_model", sa.String(length=20), nullable=True),
        sa.Column("chargepoint_vendor", sa.String(length=50), nullable=True),
        sa.Column("chargebox_serial_number", sa.String(length=25), nullable=True),
        sa.Column("chargepoint_serial_number", sa.String(length=25), nullable=True),
        sa.Column("firmware_version", sa.String(length=50), nullable=True),
        sa.Column("iccid", sa.String(length=20), nullable=True),
        sa.Column("imsi", sa.String(length=20), nullable=True),
        sa.Column("meter_type", sa.String(length=25), nullable=True),
        sa.Column("meter_serial_number", sa.String(length=25), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("websocket_port", sa.Integer(), nullable=True),
        sa.Column("connected", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("ocpp_version", sa.String(length=9), nullable=True),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chargepoint_status", sa.String(length=11), nullable=True),
        sa.Column("status_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("firmware_status", sa.String(length=50), nullable=True),
        sa.Column("diagnostics_status", sa.String(length=50), nullable=True),
        sa.Column("location_uuid", sa.Uuid(), nullable=True),
        sa.Column(
            "registration_status", sa.String(length=20), server_default="Pending", nullable=False
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("local_list_version", sa.Integer(), nullable=True),
        sa.Column("decommissioned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_chargepoint_chargepoint_status", "chargepoint_status", CHARGEPOINT_STATUSES),
        _in("ck_chargepoint_diagnostics_status", "diagnostics_status", DIAGNOSTICS_STATUSES),
        _in("ck_chargepoint_firmware_status", "firmware_status", FIRMWARE_STATUSES),
        _in("ck_chargepoint_ocpp_version", "ocpp_version", OCPP_VERSIONS),
        _in("ck_chargepoint_registration_status", "registration_status", REGISTRATION_STATUSES),
        sa.ForeignKeyConstraint(
            ["location_uuid"],
            ["location.uuid"],
            name=op.f("fk_chargepoint_location_uuid"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("chargepoint_id", name=op.f("pk_chargepoint")),
    )
    op.create_index(op.f("ix_chargepoint_connected"), "chargepoint", ["connected"], unique=False)
    op.create_index(
        op.f("ix_chargepoint_location_uuid"), "chargepoint", ["location_uuid"], unique=False
    )
    op.create_index(
        op.f("ix_chargepoint_registration_status"),
        "chargepoint",
        ["registration_status"],
        unique=False,
    )
    op.create_table(
        "id_tag",
        sa.Column("id_token", sa.String(length=255), nullable=False),
        sa.Column("expiry_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id_tag", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id_tag"],
            ["id_tag.id_token"],
            name=op.f("fk_id_tag_parent_id_tag"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_id_tag_user_id"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id_token", name=op.f("pk_id_tag")),
    )
    op.create_index(op.f("ix_id_tag_parent_id_tag"), "id_tag", ["parent_id_tag"], unique=False)
    op.create_index(op.f("ix_id_tag_user_id"), "id_tag", ["user_id"], unique=False)
    op.create_table(
        "profile",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_profile_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profile")),
    )
    op.create_table(
        "chargepoint_configuration",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("readonly", sa.Boolean(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_chargepoint_configuration_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chargepoint_id", "key", name=op.f("pk_chargepoint_configuration")),
    )
    op.create_table(
        "connector",
        sa.Column("uuid", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("connectorid", sa.Integer(), nullable=False),
        sa.Column(
            "availability_status", sa.String(length=11), server_default="Operative", nullable=False
        ),
        sa.Column(
            "connector_status", sa.String(length=13), server_default="Unavailable", nullable=False
        ),
        sa.Column("status_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        _in("ck_connector_availability_status", "availability_status", AVAILABILITY_STATUSES),
        _in("ck_connector_connector_status", "connector_status", CONNECTOR_STATUSES),
        _in("ck_connector_error_code", "error_code", CONNECTOR_ERROR_CODES),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_connector_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_connector")),
        sa.UniqueConstraint(
            "chargepoint_id", "connectorid", name=op.f("uq_connector_chargepoint_id_connectorid")
        ),
    )
    op.create_table(
        "heartbeat",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_heartbeat_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeat")),
        sa.UniqueConstraint("message_id", name=op.f("uq_heartbeat_message_id")),
    )
    op.create_index(
        op.f("ix_heartbeat_chargepoint_id_timestamp"),
        "heartbeat",
        ["chargepoint_id", "timestamp"],
        unique=False,
    )
    op.create_table(
        "status_notification",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("connectorid", sa.Integer(), nullable=False),
        sa.Column("connector_uuid", sa.Uuid(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=False),
        sa.Column("info", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        _in("ck_status_notification_error_code", "error_code", CONNECTOR_ERROR_CODES),
        _in("ck_status_notification_status", "status", CONNECTOR_STATUSES),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_status_notification_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connector_uuid"],
            ["connector.uuid"],
            name=op.f("fk_status_notification_connector_uuid"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_notification")),
        sa.UniqueConstraint("message_id", name=op.f("uq_status_notification_message_id")),
    )
    op.create_index(
        op.f("ix_status_notification_chargepoint_id_received_at"),
        "status_notification",
        ["chargepoint_id", "received_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_status_notification_connector_uuid_timestamp"),
        "status_notification",
        ["connector_uuid", "timestamp"],
        unique=False,
    )
    op.create_table(
        "transaction",
        sa.Column("transaction_id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("connectorid", sa.Integer(), nullable=False),
        sa.Column("connector_uuid", sa.Uuid(), nullable=True),
        sa.Column("start_transaction_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop_transaction_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wh_meter_start", sa.Integer(), nullable=False),
        sa.Column("wh_meter_stop", sa.Integer(), nullable=True),
        sa.Column("wh_meter_last", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=255), nullable=False),
        sa.Column("id_tag_stop", sa.String(length=255), nullable=True),
        sa.Column("reason_stopped", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=15), server_default="Active", nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("remote_transaction_id", sa.String(length=36), nullable=True),
        sa.Column("start_message_id", sa.String(length=64), nullable=False),
        sa.Column("stop_message_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_transaction_reason_stopped", "reason_stopped", STOP_REASONS),
        _in("ck_transaction_status", "status", TRANSACTION_STATUSES),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_transaction_chargepoint_id"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["connector_uuid"],
            ["connector.uuid"],
            name=op.f("fk_transaction_connector_uuid"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_transaction")),
        sa.UniqueConstraint(
            "chargepoint_id",
            "connectorid",
            "start_transaction_timestamp",
            "id_tag",
            name="uq_transaction_start",
        ),
        sa.UniqueConstraint("start_message_id", name=op.f("uq_transaction_start_message_id")),
        sa.UniqueConstraint("stop_message_id", name=op.f("uq_transaction_stop_message_id")),
    )
    op.create_index(
        op.f("ix_transaction_chargepoint_id_status"),
        "transaction",
        ["chargepoint_id", "status"],
        unique=False,
    )
    op.create_index(op.f("ix_transaction_id_tag"), "transaction", ["id_tag"], unique=False)
    op.create_index(
        op.f("ix_transaction_start_transaction_timestamp"),
        "transaction",
        ["start_transaction_timestamp"],
        unique=False,
    )
    op.create_table(
        "charging_profile",
        sa.Column("chargingprofile_id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("chargingprofile_purpose", sa.String(length=21), nullable=False),
        sa.Column(
            "chargingprofile_kind", sa.String(length=10), server_default="Absolute", nullable=False
        ),
        sa.Column("recurrency_kind", sa.String(length=10), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("start_schedule", sa.DateTime(timezone=True), nullable=True),
        sa.Column("charging_rate_unit", sa.String(length=1), nullable=False),
        sa.Column(
            "chargingschedule_period",
            postgresql.ARRAY(postgresql.JSONB(astext_type=sa.Text())),
            nullable=False,
        ),
        sa.Column("min_charging_rate", sa.Numeric(), nullable=True),
        sa.Column("chargepoint_id", sa.String(length=255), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_charging_profile_charging_rate_unit", "charging_rate_unit", CHARGING_RATE_UNITS),
        _in(
            "ck_charging_profile_chargingprofile_kind",
            "chargingprofile_kind",
            CHARGING_PROFILE_KINDS,
        ),
        _in(
            "ck_charging_profile_chargingprofile_purpose",
            "chargingprofile_purpose",
            CHARGING_PROFILE_PURPOSES,
        ),
        _in("ck_charging_profile_recurrency_kind", "recurrency_kind", RECURRENCY_KINDS),
        sa.CheckConstraint(
            "cardinality(chargingschedule_period) >= 1",
            name=op.f("ck_charging_profile_period_not_empty"),
        ),
        sa.CheckConstraint(
            "stack_level >= 0", name=op.f("ck_charging_profile_stack_level_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_charging_profile_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transaction.transaction_id"],
            name=op.f("fk_charging_profile_transaction_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chargingprofile_id", name=op.f("pk_charging_profile")),
    )
    op.create_index(
        op.f("ix_charging_profile_chargepoint_id_connector_id"),
        "charging_profile",
        ["chargepoint_id", "connector_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_charging_profile_transaction_id"),
        "charging_profile",
        ["transaction_id"],
        unique=False,
    )
    op.create_table(
        "reservation",
        sa.Column("uuid", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("connector_uuid", sa.Uuid(), nullable=False),
        sa.Column("reservation_id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("expiry_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id_tag", sa.String(length=255), nullable=False),
        sa.Column("parent_id_tag", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="Active", nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_reservation_status", "status", RESERVATION_STATUSES),
        sa.ForeignKeyConstraint(
            ["connector_uuid"],
            ["connector.uuid"],
            name=op.f("fk_reservation_connector_uuid"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transaction.transaction_id"],
            name=op.f("fk_reservation_transaction_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_reservation")),
        sa.UniqueConstraint("reservation_id", name=op.f("uq_reservation_reservation_id")),
    )
    op.create_index(
        op.f("ix_reservation_connector_uuid"), "reservation", ["connector_uuid"], unique=False
    )
    op.create_table(
        "charging_profile_installation",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("connectorid", sa.Integer(), nullable=False),
        sa.Column("chargingprofile_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="Pending", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _in("ck_charging_profile_installation_status", "status", PROFILE_INSTALLATION_STATUSES),
        sa.ForeignKeyConstraint(
            ["chargepoint_id"],
            ["chargepoint.chargepoint_id"],
            name=op.f("fk_charging_profile_installation_chargepoint_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["chargingprofile_id"],
            ["charging_profile.chargingprofile_id"],
            name=op.f("fk_charging_profile_installation_chargingprofile_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "chargepoint_id",
            "connectorid",
            "chargingprofile_id",
            name=op.f("pk_charging_profile_installation"),
        ),
    )
    op.create_index(
        op.f("ix_charging_profile_installation_chargingprofile_id"),
        "charging_profile_installation",
        ["chargingprofile_id"],
        unique=False,
    )


def downgrade() -> None:
    # Hand-checked against shared.db.models (tests/integration/db compares them).
    op.drop_index(
        op.f("ix_charging_profile_installation_chargingprofile_id"),
        table_name="charging_profile_installation",
    )
    op.drop_table("charging_profile_installation")
    op.drop_index(op.f("ix_reservation_connector_uuid"), table_name="reservation")
    op.drop_table("reservation")
    op.drop_index(op.f("ix_charging_profile_transaction_id"), table_name="charging_profile")
    op.drop_index(
        op.f("ix_charging_profile_chargepoint_id_connector_id"), table_name="charging_profile"
    )
    op.drop_table("charging_profile")
    op.drop_index(op.f("ix_transaction_start_transaction_timestamp"), table_name="transaction")
    op.drop_index(op.f("ix_transaction_id_tag"), table_name="transaction")
    op.drop_index(op.f("ix_transaction_chargepoint_id_status"), table_name="transaction")
    op.drop_table("transaction")
    op.drop_index(
        op.f("ix_status_notification_connector_uuid_timestamp"), table_name="status_notification"
    )
    op.drop_index(
        op.f("ix_status_notification_chargepoint_id_received_at"), table_name="status_notification"
    )
    op.drop_table("status_notification")
    op.drop_index(op.f("ix_heartbeat_chargepoint_id_timestamp"), table_name="heartbeat")
    op.drop_table("heartbeat")
    op.drop_table("connector")
    op.drop_table("chargepoint_configuration")
    op.drop_table("profile")
    op.drop_index(op.f("ix_id_tag_user_id"), table_name="id_tag")
    op.drop_index(op.f("ix_id_tag_parent_id_tag"), table_name="id_tag")
    op.drop_table("id_tag")
    op.drop_index(op.f("ix_chargepoint_registration_status"), table_name="chargepoint")
    op.drop_index(op.f("ix_chargepoint_location_uuid"), table_name="chargepoint")
    op.drop_index(op.f("ix_chargepoint_connected"), table_name="chargepoint")
    op.drop_table("chargepoint")
    op.drop_index(op.f("ix_api_key_prefix"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_table("user_account")
    op.drop_index(op.f("ix_ocpp_message_chargepoint_id_created_at"), table_name="ocpp_message")
    op.drop_index(op.f("ix_ocpp_message_action"), table_name="ocpp_message")
    op.drop_table("ocpp_message")
    op.drop_index(op.f("ix_meter_value_transaction_id_timestamp"), table_name="meter_value")
    op.drop_index(op.f("ix_meter_value_chargepoint_id"), table_name="meter_value")
    op.drop_table("meter_value")
    op.drop_table("location")
    op.drop_index(op.f("ix_data_transfer_chargepoint_id_received_at"), table_name="data_transfer")
    op.drop_table("data_transfer")
    op.drop_index(op.f("ix_command_log_chargepoint_id"), table_name="command_log")
    op.drop_table("command_log")
