"""Why a payload does not fit its model, spelled per OCPP version.

OCPP-J 1.6 §4.2.3 and 2.0.1 Part 4 §4.3 name the CALLERROR codes of a malformed payload; the
two versions spell two of them differently (1.6 `FormationViolation` and
`OccurenceConstraintViolation`, 2.0.1 `FormatViolation` and `OccurrenceConstraintViolation`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from shared.ocpp.versions import OCPP16, OCPP201


class Violation(StrEnum):
    """What is wrong with a payload, before a version spells it."""

    FORMAT = "format"  # not a JSON object
    TYPE = "type"  # a value of the wrong JSON type (`"1"` for an integer, a null)
    OCCURRENCE = "occurrence"  # a required field missing, too few / too many items
    PROPERTY = "property"  # enum, length, bound, date-time format


VIOLATION_CODES: Final[dict[str, dict[Violation, str]]] = {
    OCPP16: {
        Violation.FORMAT: "FormationViolation",
        Violation.TYPE: "TypeConstraintViolation",
        Violation.OCCURRENCE: "OccurenceConstraintViolation",  # sic, OCPP-J 1.6 §4.2.3
        Violation.PROPERTY: "PropertyConstraintViolation",
    },
    OCPP201: {
        Violation.FORMAT: "FormatViolation",
        Violation.TYPE: "TypeConstraintViolation",
        Violation.OCCURRENCE: "OccurrenceConstraintViolation",
        Violation.PROPERTY: "PropertyConstraintViolation",
    },
}


class UnknownAction(LookupError):
    """No model for this version and action: the message cannot come from the gateway."""

    def __init__(self, version: str | None, action: str, direction: str) -> None:
        super().__init__(f"no {direction} model for {action[:64]!r} in {version!r}")
        self.version = version
        self.action = action
        self.direction = direction


class PayloadInvalid(ValueError):
    """A payload that does not fit its model; `code` is the version's CALLERROR code."""

    def __init__(
        self,
        *,
        version: str,
        action: str,
        violation: Violation,
        description: str,
        details: dict[str, Any],
    ) -> None:
        super().__init__(f"{action}: {description}")
        self.version = version
        self.action = action
        self.violation = violation
        self.code = VIOLATION_CODES[version][violation]
        self.description = description
        self.details = details


class RequestInvalid(PayloadInvalid):
    """A CALL payload (what a charge point asked) that does not fit its request model."""


class ResponseInvalid(PayloadInvalid):
    """A CALLRESULT payload (what a charge point answered) that does not fit its model."""
