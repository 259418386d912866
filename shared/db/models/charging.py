"""Smart charging: profile definitions and where they are installed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import enums
from shared.db.base import Base, TimestampMixin, enum_check

if TYPE_CHECKING:
    from shared.db.models.transactions import Transaction


class ChargingProfile(TimestampMixin, Base):
    """A charging profile (ER diagram: ChargingProfile) with its one charging schedule.

    `chargingschedule_period` holds OCPP ChargingSchedulePeriod objects as sent on the wire:
    `{"startPeriod": int, "limit": number, "numberPhases": int?}` (JSON numbers, not Decimal).
    The target (`chargepoint_id`, `connector_id`) is where the API means it to go; NULL
    chargepoint_id is a template not bound to one charge point.
    """

    __tablename__ = "charging_profile"
    __table_args__ = (
        CheckConstraint("stack_level >= 0", name="stack_level_non_negative"),
        CheckConstraint("cardinality(chargingschedule_period) >= 1", name="period_not_empty"),
        enum_check("chargingprofile_purpose", enums.CHARGING_PROFILE_PURPOSES),
        enum_check("chargingprofile_kind", enums.CHARGING_PROFILE_KINDS),
        enum_check("recurrency_kind", enums.RECURRENCY_KINDS),
        enum_check("charging_rate_unit", enums.CHARGING_RATE_UNITS),
        Index(None, "chargepoint_id", "connector_id"),
    )

    chargingprofile_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.transaction_id", ondelete="CASCADE"), index=True
    )
    stack_level: Mapped[int] = mapped_column(Integer)
    chargingprofile_purpose: Mapped[str] = mapped_column(String(34))
    chargingprofile_kind: Mapped[str] = mapped_column(
        String(10), default="Absolute", server_default="Absolute"
    )
    recurrency_kind: Mapped[str | None] = mapped_column(String(10))
    valid_from: Mapped[datetime | None]
    valid_to: Mapped[datetime | None]
    duration: Mapped[int | None] = mapped_column(Integer)
    start_schedule: Mapped[datetime | None]
    charging_rate_unit: Mapped[str] = mapped_column(String(1))
    chargingschedule_period: Mapped[list[dict[str, Any]]] = mapped_column(ARRAY(JSONB))
    min_charging_rate: Mapped[Decimal | None]
    chargepoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE")
    )
    connector_id: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(String(255))

    transaction: Mapped[Transaction | None] = relationship(
        back_populates="charging_profiles", lazy="raise"
    )
    installations: Mapped[list[ChargingProfileInstallation]] = relationship(
        back_populates="charging_profile", lazy="raise", passive_deletes=True
    )


class ChargingProfileInstallation(Base):
    """The state of one profile on one charge point connector (0 = the whole charge point)."""

    __tablename__ = "charging_profile_installation"
    __table_args__ = (enum_check("status", enums.PROFILE_INSTALLATION_STATUSES),)

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    connectorid: Mapped[int] = mapped_column(Integer, primary_key=True)
    chargingprofile_id: Mapped[int] = mapped_column(
        ForeignKey("charging_profile.chargingprofile_id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    status: Mapped[str] = mapped_column(String(10), default="Pending", server_default="Pending")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    charging_profile: Mapped[ChargingProfile] = relationship(
        back_populates="installations", lazy="raise"
    )


class ChargingLimit(Base):
    """An external limit on a 2.0.1 station or EVSE (K12 NotifyChargingLimit): the
    ChargingStationExternalConstraints of one source (EMS, SO, Other; CSO is ours).

    `evse_id` 0 = the whole station. `schedule`: the reported chargingSchedule list as on
    the wire (camelCase), NULL when the station reported only the source. Removed by
    ClearedChargingLimit (K13). The load balancer caps the station's sessions with it.
    """

    __tablename__ = "charging_limit"
    __table_args__ = (enum_check("source", enums.CHARGING_LIMIT_SOURCES),)

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(10), primary_key=True)
    grid_critical: Mapped[bool | None]
    schedule: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ReportedChargingProfile(Base):
    """A profile a 2.0.1 station reported holding (K09 ReportChargingProfiles, after
    GetChargingProfiles): the latest report per station replaces the earlier ones.

    `profile`: the ChargingProfileType as on the wire (camelCase).
    """

    __tablename__ = "reported_charging_profile"
    __table_args__ = (enum_check("charging_limit_source", enums.CHARGING_LIMIT_SOURCES),)

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chargingprofile_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(Integer)
    charging_limit_source: Mapped[str] = mapped_column(String(10))
    profile: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reported_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EvChargingNeed(Base):
    """What the EV of an EVSE asked for (K15 NotifyEVChargingNeeds) and the schedule it
    chose (K17 NotifyEVChargingSchedule), for the transaction on the EVSE then.

    Limits are in A (AC: evMaxCurrent, evMinCurrent) and W (DC evMaxPower); `needs` holds
    the whole chargingNeeds object as on the wire. The load balancer caps the session with
    the EV's maximum.
    """

    __tablename__ = "ev_charging_need"

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.transaction_id", ondelete="SET NULL"), index=True
    )
    requested_energy_transfer: Mapped[str] = mapped_column(String(20))
    departure_time: Mapped[datetime | None]
    energy_amount: Mapped[Decimal | None]
    ev_min_current: Mapped[Decimal | None]
    ev_max_current: Mapped[Decimal | None]
    ev_max_power: Mapped[Decimal | None]
    ev_max_voltage: Mapped[Decimal | None]
    needs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ev_schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ev_schedule_timebase: Mapped[datetime | None]
