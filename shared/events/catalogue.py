"""The catalogue of public events: one pydantic model per event type's `data`, and the
versioned envelope every event shares (docs/events.md).

Field names are snake_case; energies are Wh; times ISO 8601 UTC. Adding a field to a data
model is a compatible change; removing or retyping one needs a new `version`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

EVENT_VERSION: Final = 1
ROUTING_PREFIX: Final = "public.v1."
"""Routing key of a public event on `csms.events`: this prefix and the event type."""


class EventData(BaseModel):
    """Base of every event's `data`: unknown fields are kept (additions are compatible)."""

    model_config = ConfigDict(extra="allow")


class Envelope(BaseModel):
    """What every public event looks like; `data` depends on `type`."""

    model_config = ConfigDict(extra="forbid")

    id: UUID = Field(description="Unique per event: de-duplicate deliveries with it.")
    type: str = Field(description="The event type, e.g. `transaction.started`.")
    version: int = Field(EVENT_VERSION, description="Version of the envelope and data shape.")
    occurred_at: datetime = Field(description="When the change was committed (UTC).")
    chargepoint_id: str | None = Field(description="The charge point, null for system events.")
    location_id: UUID | None = Field(description="The charge point's location, if any.")
    seq: int = Field(
        description="Increases by one with every event of the charge point (of the system "
        "when chargepoint_id is null), in commit order."
    )
    data: dict[str, Any]


# ------------------------------------------------------------------------ data models


class ConnectionData(EventData):
    ip: str | None = None
    port: int | None = None
    node_id: str | None = Field(None, description="The gateway process holding the socket.")
    subprotocol: str | None = Field(None, description="`ocpp1.6` or `ocpp2.0.1`.")
    connection_id: str | None = None
    connected_at: str | None = None


class BootedData(EventData):
    status: str = Field(description="The BootNotification answer: Accepted, Pending, Rejected.")
    created: bool = Field(description="True when the boot created the charge point.")
    ocpp_version: str | None = None
    charge_point_vendor: str | None = None
    charge_point_model: str | None = None
    firmware_version: str | None = None


class RegistrationChangedData(EventData):
    registration_status: str
    previous_registration_status: str | None = None


class ChargepointStatusData(EventData):
    status: str
    previous_status: str | None = None
    timestamp: str | None = None


class ConnectorStatusData(EventData):
    connector_id: int
    status: str
    error_code: str | None = Field(None, description="OCPP error code, `NoError` when fine.")
    previous_status: str | None = None
    previous_error_code: str | None = None
    timestamp: str | None = None


class TransactionStartedData(EventData):
    transaction_id: int
    remote_transaction_id: str | None = Field(None, description="2.0.1 transactionId.")
    connector_id: int | None = None
    id_tag: str | None = None
    id_tag_status: str | None = None
    meter_start_wh: int | float | None = None
    started_at: str | None = None
    reservation_id: int | None = None


class TransactionUpdatedData(EventData):
    transaction_id: int
    remote_transaction_id: str | None = None
    connector_id: int | None = None
    meter_wh: int | float | None = Field(None, description="Latest energy register reading.")
    energy_wh: int | float | None = Field(None, description="Energy so far (reading - start).")
    timestamp: str | None = None


class TransactionEndedData(EventData):
    transaction_id: int
    remote_transaction_id: str | None = None
    connector_id: int | None = None
    id_tag: str | None = None
    meter_stop_wh: int | float | None = None
    energy_wh: int | float | None = None
    duration_s: float | None = Field(None, description="Seconds from start to end.")
    reason: str | None = None
    ended_at: str | None = None
    outcome: str = Field(
        description="`stopped`, `closed` (by the CSMS or an operator), `corrected` (a stop "
        "replaced an earlier close's estimate) or `unknown` (never started here)."
    )
    closed_by: str = Field(
        description="`chargepoint`, `csms` (Superseded, Stale, Rebooted), `operator`."
    )
    previous: dict[str, Any] | None = Field(None, description="A corrected close's estimate.")


class MeterValuesData(EventData):
    transaction_id: int | None = None
    connector_id: int | None = None
    samples: int
    meter_wh: int | float | None = None
    timestamp: str | None = None


class AuthorizationRefusedData(EventData):
    id_tag: str
    status: str = Field(description="Blocked, Expired, Invalid, ConcurrentTx ...")
    action: str = Field(description="The OCPP action asking: Authorize, StartTransaction ...")


class ReservationData(EventData):
    reservation_id: int
    connector_id: int | None = None
    id_tag: str | None = None
    expiry_date: str | None = None
    transaction_id: int | None = None
    source: str | None = Field(
        None,
        description="reservation.expired / cancelled: csms (the expiry date was reached: the "
        "CSMS's sweep) or chargepoint (a 2.0.1 ReservationStatusUpdate); absent otherwise.",
    )


class CommandCompletedData(EventData):
    correlation_id: str
    action: str
    outcome: str = Field(
        description="result, error (`error.code` AnswerInvalid: the gateway found the answer "
        "invalid), refused (the gateway did not send it), offline, timeout or lost."
    )
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ChargingLimitData(EventData):
    location_id: str | None = None
    transaction_id: int | None = None
    connector_id: int | None = None
    limit: float | None = None
    unit: str | None = None
    paused: bool | None = None


class DeviceStatusData(EventData):
    status: str | None = None
    previous_status: str | None = None
    request_id: int | None = None


class SecurityEventData(EventData):
    type: str | None = Field(None, description="The security event's type (whitepaper / A04).")
    timestamp: str | None = None
    tech_info: str | None = None
    source: str = Field(
        "chargepoint",
        description="chargepoint (its SecurityEventNotification) or csms (the CSMS observed "
        "it: a refused connection, a security profile upgrade).",
    )


class WebhookDisabledData(EventData):
    webhook_id: str
    url: str
    failure_streak: int
    reason: str


# ------------------------------------------------------------------------ the catalogue


@dataclass(frozen=True)
class EventType:
    """One entry of the catalogue."""

    name: str
    data: type[EventData]
    summary: str
    example: dict[str, Any]
    opt_in: bool = False
    """Only to subscribers that name the type (not to `*` subscriptions or streams)."""
    throttled: bool = False
    scope: Literal["chargepoint", "system"] = "chargepoint"


def _t(
    name: str, data: type[EventData], summary: str, example: dict[str, Any], **kw: Any
) -> EventType:
    return EventType(name, data, summary, example, **kw)


_CONN = {"ip": "10.0.0.7", "port": 50312, "node_id": "gw-1", "subprotocol": "ocpp1.6"}

CATALOGUE: Final[dict[str, EventType]] = {
    e.name: e
    for e in (
        _t("chargepoint.connected", ConnectionData, "A charge point's websocket opened.", _CONN),
        _t("chargepoint.disconnected", ConnectionData, "The websocket closed.", _CONN),
        _t(
            "chargepoint.booted",
            BootedData,
            "BootNotification handled.",
            {"status": "Accepted", "created": False, "ocpp_version": "ocpp1.6"},
        ),
        _t(
            "chargepoint.registration_changed",
            RegistrationChangedData,
            "An operator changed the registration status.",
            {"registration_status": "Accepted", "previous_registration_status": "Pending"},
        ),
        _t(
            "chargepoint.status_changed",
            ChargepointStatusData,
            "The status of the charge point itself (connector 0) changed.",
            {"status": "Unavailable", "previous_status": "Available"},
        ),
        _t(
            "connector.status_changed",
            ConnectorStatusData,
            "A connector's status or error code changed.",
            {
                "connector_id": 1,
                "status": "Faulted",
                "error_code": "GroundFailure",
                "previous_status": "Available",
                "previous_error_code": "NoError",
            },
        ),
        _t(
            "transaction.started",
            TransactionStartedData,
            "A transaction started.",
            {
                "transaction_id": 42,
                "connector_id": 1,
                "id_tag": "TAG1",
                "id_tag_status": "Accepted",
                "meter_start_wh": 1200,
                "started_at": "2026-11-30T10:00:00Z",
            },
        ),
        _t(
            "transaction.updated",
            TransactionUpdatedData,
            "Energy so far; at most one per transaction per CSMS_EVENTS_UPDATE_INTERVAL.",
            {
                "transaction_id": 42,
                "connector_id": 1,
                "meter_wh": 3400,
                "energy_wh": 2200,
                "timestamp": "2026-11-30T10:15:00Z",
            },
            throttled=True,
        ),
        _t(
            "transaction.ended",
            TransactionEndedData,
            "A transaction ended (stopped, closed by the CSMS or an operator, or corrected).",
            {
                "transaction_id": 42,
                "connector_id": 1,
                "meter_stop_wh": 9200,
                "energy_wh": 8000,
                "duration_s": 3600.0,
                "reason": "Local",
                "ended_at": "2026-11-30T11:00:00Z",
                "outcome": "stopped",
                "closed_by": "chargepoint",
            },
        ),
        _t(
            "meter_values",
            MeterValuesData,
            "Meter readings received; opt-in, at most one per connector per "
            "CSMS_EVENTS_METER_VALUES_INTERVAL.",
            {"transaction_id": 42, "connector_id": 1, "samples": 4, "meter_wh": 3400},
            opt_in=True,
            throttled=True,
        ),
        _t(
            "authorization.refused",
            AuthorizationRefusedData,
            "An id tag was refused.",
            {"id_tag": "TAG9", "status": "Blocked", "action": "Authorize"},
        ),
        _t(
            "reservation.created",
            ReservationData,
            "The charge point accepted a reservation.",
            {
                "reservation_id": 7,
                "connector_id": 1,
                "id_tag": "TAG1",
                "expiry_date": "2026-11-30T12:00:00Z",
            },
        ),
        _t(
            "reservation.used",
            ReservationData,
            "A transaction started on a reservation.",
            {"reservation_id": 7, "transaction_id": 42},
        ),
        _t(
            "reservation.cancelled",
            ReservationData,
            "The charge point accepted a CancelReservation, or (2.0.1) removed a reservation "
            "itself (ReservationStatusUpdate Removed).",
            {"reservation_id": 7},
        ),
        _t(
            "reservation.expired",
            ReservationData,
            "A reservation reached its expiry date (the CSMS marks it, 1.6 and 2.0.1: `source` "
            "csms), or a 2.0.1 station reported it first (ReservationStatusUpdate: `source` "
            "chargepoint); once per reservation.",
            {
                "reservation_id": 7,
                "connector_id": 1,
                "id_tag": "TAG1",
                "expiry_date": "2026-11-30T12:00:00Z",
                "source": "csms",
            },
        ),
        _t(
            "command.completed",
            CommandCompletedData,
            "A command sent to a charge point ended (its answer, or why there was none).",
            {
                "correlation_id": "4f1c...",
                "action": "RemoteStartTransaction",
                "outcome": "result",
                "response": {"status": "Accepted"},
                "error": None,
            },
        ),
        _t(
            "charging.limit_changed",
            ChargingLimitData,
            "Load balancing gave a transaction a new limit.",
            {"transaction_id": 42, "connector_id": 1, "limit": 16.0, "unit": "A", "paused": False},
        ),
        _t(
            "firmware.status_changed",
            DeviceStatusData,
            "FirmwareStatusNotification (1.6, signed firmware, 2.0.1).",
            {"status": "Installed", "previous_status": "Installing"},
        ),
        _t(
            "diagnostics.status_changed",
            DeviceStatusData,
            "DiagnosticsStatusNotification / LogStatusNotification.",
            {"status": "Uploaded", "previous_status": "Uploading"},
        ),
        _t(
            "security.event",
            SecurityEventData,
            "A security event: a charge point's SecurityEventNotification, or one the CSMS "
            "observed about a charge point (e.g. FailedToAuthenticateAtCsms).",
            {
                "type": "InvalidCentralSystemCertificate",
                "timestamp": "2026-11-30T10:00:00Z",
                "source": "chargepoint",
            },
        ),
        _t(
            "webhook.disabled",
            WebhookDisabledData,
            "A webhook was disabled after too many failed deliveries in a row (to admins).",
            {
                "webhook_id": "0b9...",
                "url": "https://example.com/hook",
                "failure_streak": 20,
                "reason": "20 failed deliveries in a row",
            },
            scope="system",
        ),
    )
}

EVENT_TYPES: Final = tuple(CATALOGUE)


def routing_key(event_type: str) -> str:
    """The `csms.events` routing key of a public event type."""
    return ROUTING_PREFIX + event_type


def typed_envelope(spec: EventType) -> type[BaseModel]:
    """The envelope model of one event type (`type` a constant, `data` its model)."""
    model: type[BaseModel] = create_model(
        "Event_" + spec.name.replace(".", "_"),
        __base__=Envelope,
        type=(Literal[spec.name], Field(description=spec.summary)),  # type: ignore[arg-type]
        data=(spec.data, ...),
    )
    return model


def matches(subscribed: list[str] | tuple[str, ...], event_type: str) -> bool:
    """Whether a subscription to `subscribed` types includes `event_type`.

    `*` (or an empty list) is every type except the opt-in ones; `prefix.*` every type of
    that family; else the exact names.
    """
    spec = CATALOGUE.get(event_type)
    opt_in = spec is not None and spec.opt_in
    if event_type in subscribed:
        return True
    if opt_in:
        return False
    if not subscribed or "*" in subscribed:
        return True
    family = event_type.split(".", 1)[0] + ".*"
    return family in subscribed


def valid_subscription(name: str) -> bool:
    """A name a subscription may list: a type, `*` or `family.*`."""
    if name == "*" or name in CATALOGUE:
        return True
    return name.endswith(".*") and any(t.startswith(name[:-1]) for t in CATALOGUE)
