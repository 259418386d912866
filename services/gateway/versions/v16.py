"""OCPP 1.6J (`ocpp1.6`), with the 1.6 security whitepaper's messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.gateway.errors import ErrorKey
from services.gateway.versions.base import (
    HEARTBEAT,
    NOTIFICATION,
    RPC,
    Direction,
    ProtocolVersion,
)
from shared.commands import COMMANDS_V16
from shared.ocpp.versions import OCPP16

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
    # 1.6 has no RpcFrameworkError: a unique id already in use is a ProtocolError.
    ErrorKey.IN_FLIGHT: "ProtocolError",
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
    "SignCertificate": RPC,
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

# Security whitepaper: CertificateSigned is sent by the registry itself, after a
# SignCertificate it accepted; the others are commands of the API (COMMANDS_V16).
DOWNSTREAM = frozenset(COMMANDS_V16) | {"CertificateSigned"}


def connector_id_at_least(minimum: int) -> Callable[[dict[str, Any]], None]:
    """A schema edit: `connectorId` must be at least `minimum` (the schemas say integer)."""

    def edit(schema: dict[str, Any]) -> None:
        schema["properties"]["connectorId"]["minimum"] = minimum

    return edit


# The 1.6 schemas leave connectorId unbounded; the spec's field tables bound it (§6.31
# MeterValues.req and §6.47 StatusNotification.req: "connectorId >= 0", 0 being the main
# meter / the Charge Point itself; §6.45 StartTransaction.req: "connectorId > 0"). Below
# the bound: PropertyConstraintViolation.
TIGHTENINGS = {
    ("MeterValues", Direction.REQUEST): connector_id_at_least(0),
    ("StatusNotification", Direction.REQUEST): connector_id_at_least(0),
    ("StartTransaction", Direction.REQUEST): connector_id_at_least(1),
}


def requested_message(payload: Mapping[str, Any]) -> frozenset[str]:
    """TriggerMessage.req (§5.17): the charge point sends the `requestedMessage` itself."""
    requested = payload.get("requestedMessage")
    return frozenset({requested}) if isinstance(requested, str) else frozenset()


# Security whitepaper ExtendedTriggerMessage: FirmwareStatusNotification triggers the
# signed-firmware variant on a charge point that uses it, and SignChargePointCertificate a
# SignCertificate.req.
EXTENDED_TRIGGER = {
    "FirmwareStatusNotification": frozenset(
        {"FirmwareStatusNotification", "SignedFirmwareStatusNotification"}
    ),
    "SignChargePointCertificate": frozenset({"SignCertificate"}),
}


def extended_requested_message(payload: Mapping[str, Any]) -> frozenset[str]:
    """ExtendedTriggerMessage.req: the messages its `requestedMessage` asks for."""
    requested = payload.get("requestedMessage")
    if not isinstance(requested, str):
        return frozenset()
    return EXTENDED_TRIGGER.get(requested, frozenset({requested}))


# §4.2: while Pending, "The Charge Point SHALL NOT send request messages to the Central
# System unless it has been instructed by the Central System to do so with a
# TriggerMessage.req request."
TRIGGERS = {
    "TriggerMessage": requested_message,
    "ExtendedTriggerMessage": extended_requested_message,
}

V16 = ProtocolVersion(
    name=OCPP16,
    schema_dir="v16/schemas",
    request_suffix="",
    error_codes=ERROR_CODES,
    upstream=UPSTREAM,
    downstream=DOWNSTREAM,
    relaxations=TIGHTENINGS,
    triggers=TRIGGERS,
)
