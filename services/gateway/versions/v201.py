"""OCPP 2.0.1 (`ocpp2.0.1`)."""

from __future__ import annotations

from services.gateway.errors import ErrorKey
from services.gateway.versions.base import HEARTBEAT, NOTIFICATION, RPC, ProtocolVersion

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
    "Heartbeat": HEARTBEAT,
    "StatusNotification": NOTIFICATION,
    "MeterValues": NOTIFICATION,
    "NotifyEvent": NOTIFICATION,
    "NotifyReport": NOTIFICATION,
    "FirmwareStatusNotification": NOTIFICATION,
    "LogStatusNotification": NOTIFICATION,
    "SecurityEventNotification": NOTIFICATION,
}

DOWNSTREAM = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DataTransfer",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    }
)

V201 = ProtocolVersion(
    name="ocpp2.0.1",
    schema_dir="v201/schemas",
    request_suffix="Request",
    error_codes=ERROR_CODES,
    upstream=UPSTREAM,
    downstream=DOWNSTREAM,
)
