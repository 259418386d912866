"""Plain helpers of the transactions integration tests (envelopes).

Shared ones (fake deliveries, the recording publisher) are in tests/factories.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.envelope import Envelope, Kind

CP = "CP-TX-1"


def call(
    action: str,
    payload: dict[str, Any],
    *,
    chargepoint_id: str = CP,
    correlation_id: str | None = None,
    ocpp_version: str = "ocpp1.6",
) -> Envelope:
    """An upstream CALL envelope as the gateway publishes it (1.6 unless told)."""
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=chargepoint_id,
        ocpp_version=ocpp_version,
        unique_id=uuid.uuid4().hex[:20],
        correlation_id=correlation_id or uuid.uuid4().hex,
        node_id="test-node",
    )
