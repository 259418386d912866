"""How a SetChargingProfile's outcome maps to an installation status and a log label."""

from __future__ import annotations

import pytest

from services.charging.installer import outcome_label, status_of
from shared.commands import CallError, CommandOutcome, NotConnected, Refused, Result, TimedOut


@pytest.mark.parametrize(
    ("outcome", "status", "label"),
    [
        (Result({"status": "Accepted"}), "Installed", "Accepted"),
        (Result({"status": "Rejected"}), "Rejected", "Rejected"),
        (CallError("NotSupported"), "Rejected", "error:NotSupported"),
        # The gateway did not send it (a 1.6 profile to a 2.0.1 station): never installed.
        (Refused("RequestInvalid"), "Rejected", "refused:RequestInvalid"),
        (NotConnected(), "Pending", "offline"),
        (TimedOut(), "Pending", "timeout"),
    ],
)
def test_outcomes(outcome: CommandOutcome, status: str, label: str) -> None:
    assert status_of(outcome) == status
    assert outcome_label(outcome) == label
