"""An unknown charge point is created the same way by every service (shared/chargepoints.py)."""

from __future__ import annotations

from shared.chargepoints import ACCEPTED, PENDING, REJECTED, initial_registration_status
from shared.settings import UnknownChargePointPolicy


def test_every_policy_has_its_registration_status() -> None:
    assert [initial_registration_status(p) for p in UnknownChargePointPolicy] == [
        PENDING,
        ACCEPTED,
        REJECTED,
    ]
