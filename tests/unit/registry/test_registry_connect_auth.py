"""Who may open a websocket (security profile 1): the registry's pure decision."""

from __future__ import annotations

import pytest

from services.registry.policy import (
    DECOMMISSIONED,
    NO_PASSWORD_SET,
    PASSWORD_REQUIRED,
    UNKNOWN_ALLOWED,
    ConnectDecision,
    connect_decision,
)


@pytest.mark.parametrize(
    ("known", "decommissioned", "has_password", "presented", "expected"),
    [
        # Unknown ids: nothing to check; the boot answer applies CSMS_UNKNOWN_CHARGEPOINTS.
        (False, False, False, False, UNKNOWN_ALLOWED),
        (False, False, False, True, UNKNOWN_ALLOWED),
        # Decommissioned: refused, with or without (right) credentials.
        (True, True, True, True, DECOMMISSIONED),
        (True, True, False, False, DECOMMISSIONED),
        # No password provisioned: profile 0, credentials ignored.
        (True, False, False, False, NO_PASSWORD_SET),
        (True, False, False, True, NO_PASSWORD_SET),
        # A password provisioned: it must be presented, then verified (None).
        (True, False, True, False, PASSWORD_REQUIRED),
        (True, False, True, True, None),
    ],
)
def test_connect_decision(
    known: bool,
    decommissioned: bool,
    has_password: bool,
    presented: bool,
    expected: ConnectDecision | None,
) -> None:
    assert (
        connect_decision(
            known=known,
            decommissioned=decommissioned,
            has_password=has_password,
            presented=presented,
        )
        == expected
    )


def test_allowed_and_refused() -> None:
    assert UNKNOWN_ALLOWED.allowed and NO_PASSWORD_SET.allowed
    assert not DECOMMISSIONED.allowed and not PASSWORD_REQUIRED.allowed
