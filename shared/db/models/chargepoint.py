"""Charge points and what they report about themselves: connectors, heartbeats, statuses."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

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
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import enums
from shared.db.base import Base, TimestampMixin, enum_check

if TYPE_CHECKING:
    from shared.db.models.location import Location


class ChargePoint(TimestampMixin, Base):
    """A charge point (ER diagram: ChargePoint), keyed by its OCPP identity."""

    __tablename__ = "chargepoint"
    __table_args__ = (
        enum_check("chargepoint_status", enums.CHARGEPOINT_STATUSES),
        enum_check("ocpp_version", enums.OCPP_VERSIONS),
        enum_check("registration_status", enums.REGISTRATION_STATUSES),
        enum_check("firmware_status", enums.FIRMWARE_STATUSES),
        enum_check("diagnostics_status", enums.DIAGNOSTICS_STATUSES),
        enum_check("publish_firmware_status", enums.PUBLISH_FIRMWARE_STATUSES),
        enum_check("security_profile", enums.SECURITY_PROFILES),
        enum_check("pending_security_profile", enums.SECURITY_PROFILES),
        enum_check("monitoring_base", enums.MONITORING_BASES),
    )

    chargepoint_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # BootNotification fields (1.6 lengths; vendor 50 and chargebox serial 25 as the specs say).
    chargepoint_model: Mapped[str | None] = mapped_column(String(20))
    chargepoint_vendor: Mapped[str | None] = mapped_column(String(50))
    chargebox_serial_number: Mapped[str | None] = mapped_column(String(25))
    chargepoint_serial_number: Mapped[str | None] = mapped_column(String(25))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(20))
    meter_type: Mapped[str | None] = mapped_column(String(25))
    meter_serial_number: Mapped[str | None] = mapped_column(String(25))
    # Connection (IPv6 addresses need 45 characters).
    ip_address: Mapped[str | None] = mapped_column(String(45))
    websocket_port: Mapped[int | None] = mapped_column(Integer)
    connected: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), index=True
    )
    ocpp_version: Mapped[str | None] = mapped_column(String(9))
    # The socket that holds the charge point (gateway.connected): its gateway connection id
    # (uuid4 hex), gateway node and open time. Orders connects and names the connection a
    # disconnect must match (services/registry/handlers/gateway_events.py).
    connection_id: Mapped[str | None] = mapped_column(String(32))
    connected_node: Mapped[str | None] = mapped_column(String(200))
    connected_at: Mapped[datetime | None]
    last_heartbeat: Mapped[datetime | None]
    # Status of connectorId 0 and the timestamp of the status last applied (reordering).
    chargepoint_status: Mapped[str | None] = mapped_column(String(11))
    status_timestamp: Mapped[datetime | None]
    firmware_status: Mapped[str | None] = mapped_column(String(50))
    diagnostics_status: Mapped[str | None] = mapped_column(String(50))
    # 2.0.1 PublishFirmwareStatusNotification (L03): the station as a local firmware server.
    publish_firmware_status: Mapped[str | None] = mapped_column(String(50))
    # When the registry asked a 2.0.1 station for its FullInventory after its first Accepted
    # boot (CSMS_REGISTRY_BASE_REPORT_ON_FIRST_BOOT): asked once, never again.
    base_report_requested_at: Mapped[datetime | None]
    # 2.0.1 monitoring (N03/N04): the last SetMonitoringLevel severity and SetMonitoringBase
    # the station accepted; `monitors_stale_since`: since when the stored monitors may differ
    # from the station's (a base the CSMS cannot replay), until a complete unfiltered
    # GetMonitoringReport asked for after it.
    monitoring_level: Mapped[int | None] = mapped_column(SmallInteger)
    monitoring_base: Mapped[str | None] = mapped_column(String(14))
    monitors_stale_since: Mapped[datetime | None]
    # Provisioning (written by the API) and registration (the BootNotification answer).
    location_uuid: Mapped[UUID | None] = mapped_column(
        ForeignKey("location.uuid", ondelete="SET NULL"), index=True
    )
    registration_status: Mapped[str] = mapped_column(
        String(20), default="Pending", server_default="Pending", index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Password rotation (docs/security.md): the hash of a new password the charge point
    # accepted; both are verified until it connects with the new one, which then replaces it.
    pending_password_hash: Mapped[str | None] = mapped_column(String(255))
    # OCPP security profile (0-3) a connection must present (docs/security.md); a higher one
    # set through the API waits in `pending_security_profile` until the station connects
    # with it (never downgraded).
    security_profile: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    pending_security_profile: Mapped[int | None] = mapped_column(SmallInteger)
    local_list_version: Mapped[int | None] = mapped_column(Integer)
    decommissioned_at: Mapped[datetime | None]

    location: Mapped[Location | None] = relationship(back_populates="chargepoints", lazy="raise")
    connectors: Mapped[list[Connector]] = relationship(
        back_populates="chargepoint",
        lazy="raise",
        passive_deletes=True,
        order_by="Connector.connectorid",
    )


class Connector(Base):
    """A connector (ER diagram: Connector); connectorId 0 is the charge point, not a row."""

    __tablename__ = "connector"
    __table_args__ = (
        UniqueConstraint("chargepoint_id", "connectorid"),
        enum_check("availability_status", enums.AVAILABILITY_STATUSES),
        enum_check("connector_status", enums.CONNECTOR_STATUSES),
        enum_check("error_code", enums.CONNECTOR_ERROR_CODES),
    )

    uuid: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE")
    )
    connectorid: Mapped[int] = mapped_column(Integer)
    availability_status: Mapped[str] = mapped_column(
        String(11), default="Operative", server_default="Operative"
    )
    connector_status: Mapped[str] = mapped_column(
        String(13), default="Unavailable", server_default="Unavailable"
    )
    status_timestamp: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(50))

    chargepoint: Mapped[ChargePoint] = relationship(back_populates="connectors", lazy="raise")


class Heartbeat(Base):
    """One Heartbeat.req (ER diagram: Heartbeat)."""

    __tablename__ = "heartbeat"
    __table_args__ = (
        Index(None, "chargepoint_id", "timestamp"),
        Index(None, "timestamp", "id"),  # listing order and keyset, `csms prune`
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE")
    )
    timestamp: Mapped[datetime]
    message_id: Mapped[str | None] = mapped_column(String(64), unique=True)


class StatusNotification(Base):
    """One StatusNotification.req as received (ER diagram: StatusNotification).

    `connector_uuid` is NULL for connectorId 0 (the charge point itself), so the row also
    carries the charge point id and the reported connector number.
    """

    __tablename__ = "status_notification"
    __table_args__ = (
        Index(None, "connector_uuid", "timestamp"),
        Index(None, "chargepoint_id", "received_at"),
        Index(None, "received_at", "id"),  # listing order and keyset, `csms prune`
        enum_check("error_code", enums.CONNECTOR_ERROR_CODES),
        enum_check("status", enums.CONNECTOR_STATUSES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE")
    )
    connectorid: Mapped[int] = mapped_column(Integer)
    connector_uuid: Mapped[UUID | None] = mapped_column(
        ForeignKey("connector.uuid", ondelete="CASCADE")
    )
    error_code: Mapped[str] = mapped_column(String(50))
    info: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(50))
    timestamp: Mapped[datetime | None]
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    message_id: Mapped[str | None] = mapped_column(String(64), unique=True)

    connector: Mapped[Connector | None] = relationship(lazy="raise")


class ChargePointConfiguration(Base):
    """A configuration key as last reported by GetConfiguration or set by ChangeConfiguration."""

    __tablename__ = "chargepoint_configuration"

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    # OCPP 1.6 caps values at 500 characters; stored untruncated whatever the charger sends.
    value: Mapped[str | None] = mapped_column(Text)
    readonly: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
