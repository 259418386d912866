"""OCPP 1.6J (`ocpp1.6`), with the 1.6 security whitepaper's messages."""

from __future__ import annotations

from services.gateway.errors import ErrorKey
from services.gateway.versions.base import HEARTBEAT, NOTIFICATION, RPC, ProtocolVersion
from shared.commands import COMMANDS_V16

# OCPP-J 1.6 §4.2.3 CallError codes; the errata keeps the spellings `FormationViolation` and
# `OccurenceConstraintViolation` ("known issues that will not be fixed"). 1.6 has no code for
# an unknown message type or an unreadable frame: both are a FormationViolation.
ERROR_CODES = {
    ErrorKey.RPC_FRAMEWORK: "FormationViolation",
    ErrorKey.MESSAGE_TYPE_NOT_SUPPORTED: "FormationViolation",
    ErrorKey.FORMAT_VIOLATION: "FormationViolation",
    ErrorKey.TYPE_CONSTRAINT: "TypeConstraintViolation",
    ErrorKey.OCCURRENCE_CONSTRAINT: "OccurenceConstraintViolation",
    ErrorKey.PROPERTY_CONSTRAINT: "PropertyConstraintViolation",
    ErrorKey.NOT_IMPLEMENTED: "NotImplemented",
    ErrorKey.NOT_SUPPORTED: "NotSupported",
    ErrorKey.INTERNAL: "InternalError",
    ErrorKey.PROTOCOL: "ProtocolError",
    ErrorKey.SECURITY: "SecurityError",
    ErrorKey.GENERIC: "GenericError",
}

UPSTREAM = {
    # The answer needs state: a service replies.
    "BootNotification": RPC,
    "Authorize": RPC,
    "StartTransaction": RPC,
    "StopTransaction": RPC,
    "DataTransfer": RPC,
    # The answer is fixed: sent once the broker confirmed the message.
    "Heartbeat": HEARTBEAT,
    "StatusNotification": NOTIFICATION,
    "MeterValues": NOTIFICATION,
    "FirmwareStatusNotification": NOTIFICATION,
    "DiagnosticsStatusNotification": NOTIFICATION,
    "SecurityEventNotification": NOTIFICATION,
    "LogStatusNotification": NOTIFICATION,
    "SignedFirmwareStatusNotification": NOTIFICATION,
}

DOWNSTREAM = frozenset(COMMANDS_V16) | {
    # Security whitepaper
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
}

V16 = ProtocolVersion(
    name="ocpp1.6",
    schema_dir="v16/schemas",
    request_suffix="",
    error_codes=ERROR_CODES,
    upstream=UPSTREAM,
    downstream=DOWNSTREAM,
)
