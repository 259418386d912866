"""StartTransaction creates an unknown charge point exactly as the registry would."""

from __future__ import annotations

from services.registry.policy import initial_registration_status
from services.transactions.handlers.v16.start_transaction import INITIAL_REGISTRATION_STATUS
from shared.settings import UnknownChargePointPolicy


def test_same_registration_status_as_the_registry_for_every_policy() -> None:
    assert set(INITIAL_REGISTRATION_STATUS) == set(UnknownChargePointPolicy)
    for policy in UnknownChargePointPolicy:
        assert INITIAL_REGISTRATION_STATUS[policy] == initial_registration_status(policy)
