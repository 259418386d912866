"""Security events of charge points (SecurityEventNotification) and of the CSMS about them."""

from __future__ import annotations

from typing import Literal

from services.api.common import ReadModel, UtcDateTime


class SecurityEventRead(ReadModel):
    """One security event: `source` chargepoint (a SecurityEventNotification it sent) or csms
    (what the central system observed: a refused connection, a security profile upgrade)."""

    id: int
    chargepoint_id: str
    source: Literal["chargepoint", "csms"]
    type: str
    tech_info: str | None = None
    remote_ip: str | None = None
    occurred_at: UtcDateTime
    created_at: UtcDateTime
