"""The OCPP 2.0.1 device model of each station, and what the CSMS's reports bring back.

Components -> variables -> attributes (Actual / Target / MinSet / MaxSet) and monitors, as
NotifyReport, NotifyMonitoringReport and the GetVariables / SetVariables /
SetVariableMonitoring results report them (services/registry/device_model.py). Every table
is keyed by what the station reports, so a repeated report upserts the same rows. Component
and variable names are stored as reported (the spec says they are case-insensitive; a
station reports them one way).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import enums
from shared.db.base import Base, enum_check


class DeviceComponent(Base):
    """A component of a station (2.0.1 ComponentType): name, instance and EVSE / connector."""

    __tablename__ = "device_component"
    __table_args__ = (
        # NULLS NOT DISTINCT: a component without instance or EVSE is one row, not many.
        UniqueConstraint(
            "chargepoint_id",
            "name",
            "instance",
            "evse_id",
            "connector_id",
            name="uq_device_component_identity",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(50))
    instance: Mapped[str | None] = mapped_column(String(50))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)


class DeviceVariable(Base):
    """A variable of a component (VariableType) with its characteristics (when reported)."""

    __tablename__ = "device_variable"
    __table_args__ = (
        UniqueConstraint(
            "component_id",
            "name",
            "instance",
            name="uq_device_variable_identity",
            postgresql_nulls_not_distinct=True,
        ),
        Index(None, "chargepoint_id", "name"),
        enum_check("data_type", enums.DEVICE_DATA_TYPES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Denormalised from the component: the API filters a station's variables without a join.
    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE")
    )
    component_id: Mapped[int] = mapped_column(ForeignKey("device_component.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    instance: Mapped[str | None] = mapped_column(String(50))
    # VariableCharacteristicsType (NotifyReport only).
    unit: Mapped[str | None] = mapped_column(String(16))
    data_type: Mapped[str | None] = mapped_column(String(20))
    min_limit: Mapped[Decimal | None]
    max_limit: Mapped[Decimal | None]
    values_list: Mapped[str | None] = mapped_column(Text)
    supports_monitoring: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeviceVariableAttribute(Base):
    """One attribute of a variable (VariableAttributeType): its type, value and flags.

    `reboot_required`: the last SetVariables of it was answered RebootRequired (the value
    applies after the next reboot); cleared when a report or a GetVariables brings a value.
    """

    __tablename__ = "device_variable_attribute"
    __table_args__ = (
        enum_check("type", enums.ATTRIBUTE_TYPES),
        enum_check("mutability", enums.MUTABILITIES),
    )

    variable_id: Mapped[int] = mapped_column(
        ForeignKey("device_variable.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(7), primary_key=True)
    # 2.0.1 caps values at 2500 characters; stored untruncated.
    value: Mapped[str | None] = mapped_column(Text)
    mutability: Mapped[str | None] = mapped_column(String(9))
    persistent: Mapped[bool | None] = mapped_column(Boolean)
    constant: Mapped[bool | None] = mapped_column(Boolean)
    reboot_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeviceMonitor(Base):
    """A variable monitor (VariableMonitoringType), keyed by the station's monitor id."""

    __tablename__ = "device_monitor"
    __table_args__ = (
        enum_check("type", enums.MONITOR_TYPES),
        enum_check("origin", enums.MONITOR_ORIGINS),
        Index(None, "variable_id"),
    )

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    monitor_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variable_id: Mapped[int] = mapped_column(ForeignKey("device_variable.id", ondelete="CASCADE"))
    transaction: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    value: Mapped[Decimal]
    type: Mapped[str] = mapped_column(String(24))
    severity: Mapped[int] = mapped_column(SmallInteger)
    # HardWiredMonitor / PreconfiguredMonitor / CustomMonitor when known: CustomMonitor when a
    # SetVariableMonitoring created it, else NotifyEvent's eventNotificationType (a report
    # does not say). NULL: unknown.
    origin: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeviceReport(Base):
    """A report the CSMS asked for (GetBaseReport, GetReport, GetMonitoringReport,
    CustomerInformation, GetDisplayMessages) and how much of it arrived.

    `kind` is the notification that carries it (NotifyReport, NotifyMonitoringReport,
    NotifyCustomerInformation, NotifyDisplayMessages): requestIds are the sender's, unique
    per station and kind. A row is made by the command's effect or by the first part,
    whichever comes first.
    """

    __tablename__ = "device_report"
    __table_args__ = (
        enum_check("kind", enums.REPORT_KINDS),
        enum_check("status", enums.REPORT_STATUSES),
        enum_check("replaces", enums.REPORT_REPLACES),
        Index(None, "chargepoint_id", "requested_at"),
    )

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(25), primary_key=True)
    request_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The command that asked (NULL: parts arrived for a request we have no command of).
    command: Mapped[str | None] = mapped_column(String(20))
    # The command's answer status (Accepted, Rejected, NotSupported, EmptyResultSet).
    command_status: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    parts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # seqNo of the part with tbc false: the report has last_seq_no + 1 parts.
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    # What the report replaces once Complete (an unfiltered inventory or monitoring report):
    # Variables (FullInventory), ConfigurableVariables (ConfigurationInventory), Monitors.
    replaces: Mapped[str | None] = mapped_column(String(21))
    requested_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeviceReportPart(Base):
    """One part of a report as received: (station, kind, requestId, seqNo) once, whatever
    the resends; `data` holds NotifyCustomerInformation's text (the other kinds' data is
    in the device model tables and the message log)."""

    __tablename__ = "device_report_part"

    chargepoint_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(25), primary_key=True)
    request_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    tbc: Mapped[bool] = mapped_column(Boolean)
    generated_at: Mapped[datetime | None]
    items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    data: Mapped[str | None] = mapped_column(Text)
    # The content key of the NotifyX that brought it (a resend, with the same or a new
    # message id, has the same one).
    message_key: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DisplayMessage(Base):
    """A message shown on a station's display (2.0.1 MessageInfoType), as the station
    reported it (NotifyDisplayMessages) or accepted it (SetDisplayMessage)."""

    __tablename__ = "display_message"
    __table_args__ = (
        enum_check("priority", enums.MESSAGE_PRIORITIES),
        enum_check("state", enums.MESSAGE_STATES),
        enum_check("format", enums.MESSAGE_FORMATS),
    )

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    message_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    priority: Mapped[str] = mapped_column(String(12))
    state: Mapped[str | None] = mapped_column(String(12))
    start_date_time: Mapped[datetime | None]
    end_date_time: Mapped[datetime | None]
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    content: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(8))
    # The display component it is shown on, when not the station's main one.
    display_name: Mapped[str | None] = mapped_column(String(50))
    display_evse_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
