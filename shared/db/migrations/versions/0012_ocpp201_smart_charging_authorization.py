"""OCPP 2.0.1 smart charging and authorization: external limits, reported profiles, EV
charging needs, id token types and MasterPass, the local list a station holds, the 2.0.1
trigger reasons of a transaction

- charging_limit: NotifyChargingLimit per station / EVSE and source (ClearedChargingLimit
  removes it); the load balancer caps the station with it.
- reported_charging_profile: ReportChargingProfiles (the latest report per station).
- ev_charging_need: NotifyEVChargingNeeds / NotifyEVChargingSchedule per EVSE.
- id_tag.token_type (IdTokenEnumType, NULL = any), id_tag.master_pass (C16).
- local_list_entry: the entries of the local list a station accepted (differential updates).
- transaction.trigger_reason / stop_trigger_reason (2.0.1 TriggerReasonEnumType),
  transaction.charging_state (the latest chargingState; the balancer's idle sessions).

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("now()")
TRIGGER_REASONS = (
    "Authorized",
    "CablePluggedIn",
    "ChargingRateChanged",
    "ChargingStateChanged",
    "Deauthorized",
    "EnergyLimitReached",
    "EVCommunicationLost",
    "EVConnectTimeout",
    "MeterValueClock",
    "MeterValuePeriodic",
    "TimeLimitReached",
    "Trigger",
    "UnlockCommand",
    "StopAuthorized",
    "EVDeparted",
    "EVDetected",
    "RemoteStop",
    "RemoteStart",
    "AbnormalCondition",
    "SignedDataReceived",
    "ResetCommand",
)
ID_TOKEN_TYPES = (
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
)
LIMIT_SOURCES = ("EMS", "Other", "SO", "CSO")
CHARGING_STATES = ("Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _chargepoint_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["chargepoint_id"],
        ["chargepoint.chargepoint_id"],
        name=op.f(f"fk_{table}_chargepoint_id_chargepoint"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "charging_limit",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("grid_critical", sa.Boolean(), nullable=True),
        sa.Column("schedule", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(_in("source", LIMIT_SOURCES), name=op.f("ck_charging_limit_source")),
        _chargepoint_fk("charging_limit"),
        sa.PrimaryKeyConstraint(
            "chargepoint_id", "evse_id", "source", name=op.f("pk_charging_limit")
        ),
    )
    op.create_table(
        "reported_charging_profile",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("chargingprofile_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("charging_limit_source", sa.String(length=10), nullable=False),
        sa.Column("profile", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            _in("charging_limit_source", LIMIT_SOURCES),
            name=op.f("ck_reported_charging_profile_charging_limit_source"),
        ),
        _chargepoint_fk("reported_charging_profile"),
        sa.PrimaryKeyConstraint(
            "chargepoint_id",
            "evse_id",
            "chargingprofile_id",
            name=op.f("pk_reported_charging_profile"),
        ),
    )
    op.create_table(
        "ev_charging_need",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("requested_energy_transfer", sa.String(length=20), nullable=False),
        sa.Column("departure_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("energy_amount", sa.Numeric(), nullable=True),
        sa.Column("ev_min_current", sa.Numeric(), nullable=True),
        sa.Column("ev_max_current", sa.Numeric(), nullable=True),
        sa.Column("ev_max_power", sa.Numeric(), nullable=True),
        sa.Column("ev_max_voltage", sa.Numeric(), nullable=True),
        sa.Column("needs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("ev_schedule", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ev_schedule_timebase", sa.DateTime(timezone=True), nullable=True),
        _chargepoint_fk("ev_charging_need"),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transaction.transaction_id"],
            name=op.f("fk_ev_charging_need_transaction_id_transaction"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("chargepoint_id", "evse_id", name=op.f("pk_ev_charging_need")),
    )
    op.create_index(
        op.f("ix_ev_charging_need_transaction_id"), "ev_charging_need", ["transaction_id"]
    )
    op.create_table(
        "local_list_entry",
        sa.Column("chargepoint_id", sa.String(length=255), nullable=False),
        sa.Column("id_token", sa.String(length=255), nullable=False),
        sa.Column("id_token_type", sa.String(length=20), nullable=True),
        sa.Column("info", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("list_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        _chargepoint_fk("local_list_entry"),
        sa.PrimaryKeyConstraint("chargepoint_id", "id_token", name=op.f("pk_local_list_entry")),
    )
    op.add_column("id_tag", sa.Column("token_type", sa.String(length=20), nullable=True))
    op.create_check_constraint(
        op.f("ck_id_tag_token_type"), "id_tag", _in("token_type", ID_TOKEN_TYPES)
    )
    op.add_column(
        "id_tag",
        sa.Column("master_pass", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    for column in ("trigger_reason", "stop_trigger_reason"):
        op.add_column("transaction", sa.Column(column, sa.String(length=30), nullable=True))
        op.create_check_constraint(
            op.f(f"ck_transaction_{column}"), "transaction", _in(column, TRIGGER_REASONS)
        )
    op.add_column("transaction", sa.Column("charging_state", sa.String(length=13), nullable=True))
    op.create_check_constraint(
        op.f("ck_transaction_charging_state"),
        "transaction",
        _in("charging_state", CHARGING_STATES),
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_transaction_charging_state"), "transaction", type_="check")
    op.drop_column("transaction", "charging_state")
    for column in ("stop_trigger_reason", "trigger_reason"):
        op.drop_constraint(op.f(f"ck_transaction_{column}"), "transaction", type_="check")
        op.drop_column("transaction", column)
    op.drop_column("id_tag", "master_pass")
    op.drop_constraint(op.f("ck_id_tag_token_type"), "id_tag", type_="check")
    op.drop_column("id_tag", "token_type")
    op.drop_table("local_list_entry")
    op.drop_index(op.f("ix_ev_charging_need_transaction_id"), table_name="ev_charging_need")
    op.drop_table("ev_charging_need")
    op.drop_table("reported_charging_profile")
    op.drop_table("charging_limit")
