"""Neutral error keys: what went wrong, independent of how a version spells its error code.

Each `ProtocolVersion` maps a key to its own spelling (1.6 `FormationViolation` and
`OccurenceConstraintViolation`, 2.0.1 `FormatViolation` and `OccurrenceConstraintViolation`).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKey(StrEnum):
    """A CALLERROR reason, before it is spelled for a version."""

    # The frame is not a readable RPC message (not JSON, not an array, bad id, ...).
    RPC_FRAMEWORK = "rpc_framework"
    # The frame's message type id is not 2, 3 or 4.
    MESSAGE_TYPE_NOT_SUPPORTED = "message_type_not_supported"
    # The frame is an RPC message but its payload is not an object.
    FORMAT_VIOLATION = "format_violation"
    # Schema violations of the payload.
    TYPE_CONSTRAINT = "type_constraint"
    OCCURRENCE_CONSTRAINT = "occurrence_constraint"
    PROPERTY_CONSTRAINT = "property_constraint"
    # The action: unknown to the version / known but not handled here.
    NOT_IMPLEMENTED = "not_implemented"
    NOT_SUPPORTED = "not_supported"
    # A CALL whose unique id is already queued or being answered on the connection.
    IN_FLIGHT = "in_flight"
    INTERNAL = "internal"
    PROTOCOL = "protocol"
    SECURITY = "security"
    GENERIC = "generic"
