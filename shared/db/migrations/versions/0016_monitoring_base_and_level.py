"""Monitoring base and level of a station; monitor origins; what a complete report replaces

- chargepoint.monitoring_level / monitoring_base: the last SetMonitoringLevel severity and
  SetMonitoringBase the station accepted (2.0.1 N04 / N03).
- chargepoint.monitors_stale_since: since when the stored monitors may differ from the
  station's (a SetMonitoringBase the CSMS cannot replay); cleared by a complete unfiltered
  monitoring report asked for after it.
- device_monitor.origin: HardWiredMonitor / PreconfiguredMonitor / CustomMonitor when known
  (a SetVariableMonitoring that created it, or NotifyEvent's eventNotificationType).
- device_report.replaces: what the report replaces once Complete (Variables,
  ConfigurableVariables, Monitors), from the command that asked for it.

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-30 07:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("chargepoint", sa.Column("monitoring_level", sa.SmallInteger(), nullable=True))
    op.add_column("chargepoint", sa.Column("monitoring_base", sa.String(length=14), nullable=True))
    op.add_column(
        "chargepoint", sa.Column("monitors_stale_since", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_chargepoint_monitoring_base"),
        "chargepoint",
        "monitoring_base IN ('All', 'FactoryDefault', 'HardWiredOnly')",
    )
    op.add_column("device_monitor", sa.Column("origin", sa.String(length=20), nullable=True))
    op.create_check_constraint(
        op.f("ck_device_monitor_origin"),
        "device_monitor",
        "origin IN ('HardWiredMonitor', 'PreconfiguredMonitor', 'CustomMonitor')",
    )
    op.add_column("device_report", sa.Column("replaces", sa.String(length=21), nullable=True))
    op.create_check_constraint(
        op.f("ck_device_report_replaces"),
        "device_report",
        "replaces IN ('Variables', 'ConfigurableVariables', 'Monitors')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_device_report_replaces"), "device_report", type_="check")
    op.drop_column("device_report", "replaces")
    op.drop_constraint(op.f("ck_device_monitor_origin"), "device_monitor", type_="check")
    op.drop_column("device_monitor", "origin")
    op.drop_constraint(op.f("ck_chargepoint_monitoring_base"), "chargepoint", type_="check")
    op.drop_column("chargepoint", "monitors_stale_since")
    op.drop_column("chargepoint", "monitoring_base")
    op.drop_column("chargepoint", "monitoring_level")
