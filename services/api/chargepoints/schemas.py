"""Charge points (ER diagram: ChargePoint) and their connectors."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from services.api.common import ApiModel, ReadModel, SafeStr, UtcDateTime

RegistrationStatus = Literal["Pending", "Accepted", "Rejected"]
# The identity is the last segment of the charge point's websocket URL: RFC 3986 unreserved
# characters (plus ':'), so it is the same string in a URL path, a routing key and a log line.
CHARGEPOINT_ID_PATTERN = r"^[A-Za-z0-9._~:-]+$"
ChargePointIdentity = Annotated[
    str, Field(min_length=1, max_length=255, pattern=CHARGEPOINT_ID_PATTERN)
]
# OCPP 2.0.1 BasicAuthPassword / 1.6 security whitepaper AuthorizationKey: 16 to 40 characters.
OcppPassword = Annotated[SafeStr, Field(min_length=16, max_length=40)]
SecurityProfile = Annotated[
    int,
    Field(
        ge=0,
        le=3,
        description=(
            "OCPP security profile a connection must present: 0 none, 1 HTTP Basic, "
            "2 TLS + HTTP Basic, 3 TLS + client certificate (docs/security.md). 1 and 2 need "
            "a password."
        ),
    ),
]


class ChargePointCreate(ApiModel):
    """Provision a charge point: it is Accepted at its next BootNotification."""

    chargepoint_id: ChargePointIdentity
    location_id: UUID
    password: OcppPassword | None = Field(
        default=None, description="HTTP Basic password (security profile 1/2); stored hashed."
    )
    registration_status: RegistrationStatus = "Accepted"
    security_profile: SecurityProfile | None = Field(
        default=None, description="Default: 1 with a password, else 0."
    )


class ChargePointUpdate(ApiModel):
    """Change provisioning: location, registration status, password, security profile.

    A higher `security_profile` than the stored one is kept as `pending_security_profile`
    until the charge point connects with it (then it is stored); a lower one is refused (409):
    profiles are never downgraded (provision the charge point anew to start over). A password
    given to a profile 0 charge point makes it profile 1 at once (it must present the password
    from its next connection); removing the password (null) of a profile 1 or 2 charge point
    is refused (409).
    """

    location_id: UUID | None = None
    registration_status: RegistrationStatus | None = None
    password: OcppPassword | None = None
    security_profile: SecurityProfile | None = None


class ConnectorRead(ReadModel):
    """A connector (ER diagram: Connector)."""

    uuid: UUID
    chargepoint_id: str
    connectorid: int
    connector_status: str
    availability_status: str
    status_timestamp: UtcDateTime | None = None
    error_code: str | None = None


class ChargePointRead(ReadModel):
    """A charge point as the registry knows it; `has_password` instead of the hash."""

    chargepoint_id: str
    location_id: UUID | None = None
    registration_status: str
    connected: bool
    chargepoint_status: str | None = None
    ocpp_version: str | None = None
    chargepoint_vendor: str | None = None
    chargepoint_model: str | None = None
    chargebox_serial_number: str | None = None
    chargepoint_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    ip_address: str | None = None
    websocket_port: int | None = None
    last_heartbeat: UtcDateTime | None = None
    firmware_status: str | None = None
    diagnostics_status: str | None = None
    # 2.0.1: PublishFirmwareStatusNotification (L03); the FullInventory asked after the
    # first Accepted boot (CSMS_REGISTRY_BASE_REPORT_ON_FIRST_BOOT).
    publish_firmware_status: str | None = None
    base_report_requested_at: UtcDateTime | None = None
    monitoring_level: int | None = Field(
        default=None,
        description="2.0.1: the severity of the last SetMonitoringLevel the station accepted.",
    )
    monitoring_base: str | None = Field(
        default=None,
        description="2.0.1: the last SetMonitoringBase the station accepted (All, "
        "FactoryDefault, HardWiredOnly).",
    )
    monitors_stale_since: UtcDateTime | None = Field(
        default=None,
        description="2.0.1: since when the stored monitors may differ from the station's "
        "(a SetMonitoringBase); cleared by a complete GetMonitoringReport without filters "
        "asked for after it.",
    )
    has_password: bool = False
    security_profile: int = 0
    pending_security_profile: int | None = Field(
        default=None,
        description="A higher profile set through the API, stored once the charge point "
        "connects with it.",
    )
    decommissioned_at: UtcDateTime | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ChargePointDetail(ChargePointRead):
    """A charge point with its connectors."""

    connectors: list[ConnectorRead] = Field(default_factory=list)
