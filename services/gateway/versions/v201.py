"""OCPP 2.0.1 (`ocpp2.0.1`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.errors import ErrorKey
from services.gateway.versions.base import HEARTBEAT, NOTIFICATION, RPC, ProtocolVersion
from shared.commands import COMMANDS_V201
from shared.ocpp.versions import OCPP201

# OCPP 2.0.1 Part 4 §4.3 RPC framework error codes.
ERROR_CODES = {
    ErrorKey.RPC_FRAMEWORK: "RpcFrameworkError",
    ErrorKey.MESSAGE_TYPE_NOT_SUPPORTED: "MessageTypeNotSupported",
    ErrorKey.FORMAT_VIOLATION: "FormatViolation",
    ErrorKey.TYPE_CONSTRAINT: "TypeConstraintViolation",
    ErrorKey.OCCURRENCE_CONSTRAINT: "OccurrenceConstraintViolation",
    ErrorKey.PROPERTY_CONSTRAINT: "PropertyConstraintViolation",
    ErrorKey.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKey.NOT_SUPPORTED: "NotSupported",
    # Part 4 §4.3: RpcFrameworkError, "Content of the call is not a valid RPC Request".
    ErrorKey.IN_FLIGHT: "RpcFrameworkError",
    ErrorKey.INTERNAL: "InternalError",
    ErrorKey.PROTOCOL: "ProtocolError",
    ErrorKey.SECURITY: "SecurityError",
    ErrorKey.GENERIC: "GenericError",
}

UPSTREAM = {
    "BootNotification": RPC,
    "Authorize": RPC,
    "TransactionEvent": RPC,
    "DataTransfer": RPC,
    "SignCertificate": RPC,
    "GetCertificateStatus": RPC,
    "Get15118EVCertificate": RPC,
    "Heartbeat": HEARTBEAT,
    "StatusNotification": NOTIFICATION,
    "MeterValues": NOTIFICATION,
    "NotifyEvent": NOTIFICATION,
    "NotifyReport": NOTIFICATION,
    "FirmwareStatusNotification": NOTIFICATION,
    "LogStatusNotification": NOTIFICATION,
    "SecurityEventNotification": NOTIFICATION,
    "ReservationStatusUpdate": NOTIFICATION,
    # Smart charging (K15, K17): the charging service answers.
    "NotifyEVChargingNeeds": RPC,
    "NotifyEVChargingSchedule": RPC,
    # Reports that follow the CSMS's commands (the registry keeps them in the message log).
    "NotifyCustomerInformation": NOTIFICATION,
    "NotifyDisplayMessages": NOTIFICATION,
    "NotifyMonitoringReport": NOTIFICATION,
    "ReportChargingProfiles": NOTIFICATION,
    "PublishFirmwareStatusNotification": NOTIFICATION,
    "NotifyChargingLimit": NOTIFICATION,
    "ClearedChargingLimit": NOTIFICATION,
}

# CertificateSigned is sent by the registry itself, after a SignCertificate it accepted.
DOWNSTREAM = frozenset(COMMANDS_V201) | {"CertificateSigned"}

# MessageTriggerEnumType values that name another message than themselves.
SIGN_CERTIFICATE = frozenset({"SignCertificate"})
TRIGGERED = {
    "SignChargingStationCertificate": SIGN_CERTIFICATE,
    "SignV2GCertificate": SIGN_CERTIFICATE,
    "SignCombinedCertificate": SIGN_CERTIFICATE,
}
NOTIFY_REPORT = frozenset({"NotifyReport"})


def requested_message(payload: Mapping[str, Any]) -> frozenset[str]:
    """TriggerMessageRequest (F06): the message its `requestedMessage` asks for."""
    requested = payload.get("requestedMessage")
    if not isinstance(requested, str):
        return frozenset()
    return TRIGGERED.get(requested, frozenset({requested}))


def report(_payload: Mapping[str, Any]) -> frozenset[str]:
    """GetBaseReportRequest (B07) / GetReportRequest (B08): answered by NotifyReportRequests."""
    return NOTIFY_REPORT


# B02.FR.09: while Pending, a CALL "that is NOT a BootNotificationRequest or a message
# triggered by one of the following messages: TriggerMessageRequest, GetBaseReportRequest,
# GetReportRequest" is answered SecurityError.
TRIGGERS = {"TriggerMessage": requested_message, "GetBaseReport": report, "GetReport": report}

V201 = ProtocolVersion(
    name=OCPP201,
    schema_dir="v201/schemas",
    request_suffix="Request",
    error_codes=ERROR_CODES,
    upstream=UPSTREAM,
    downstream=DOWNSTREAM,
    triggers=TRIGGERS,
)
