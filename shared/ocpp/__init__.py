"""Typed OCPP payloads: generated pydantic models of every 1.6 and 2.0.1 action.

See docs/internals.md ("Typed OCPP payloads"). Entry points: `request_model`,
`response_model`, `parse_request`, `parse_response`, `parse_payload`, `dump_response`,
`dump_request`; errors `RequestInvalid` / `ResponseInvalid` (`.code` spelled per version)
and `UnknownAction`; types in `shared.ocpp.types`.
"""

from shared.ocpp.errors import (
    VIOLATION_CODES,
    PayloadInvalid,
    RequestInvalid,
    ResponseInvalid,
    UnknownAction,
    Violation,
)
from shared.ocpp.payloads import (
    dump_payload,
    dump_request,
    dump_response,
    parse_payload,
    parse_request,
    parse_response,
    request_model,
    response_model,
)
from shared.ocpp.types import OcppModel, format_datetime, parse_datetime
from shared.ocpp.versions import OCPP16, OCPP201

__all__ = [
    "OCPP16",
    "OCPP201",
    "VIOLATION_CODES",
    "OcppModel",
    "PayloadInvalid",
    "RequestInvalid",
    "ResponseInvalid",
    "UnknownAction",
    "Violation",
    "dump_payload",
    "dump_request",
    "dump_response",
    "format_datetime",
    "parse_datetime",
    "parse_payload",
    "parse_request",
    "parse_response",
    "request_model",
    "response_model",
]
