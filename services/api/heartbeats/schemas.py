"""Heartbeat history (ER diagram: Heartbeat)."""

from __future__ import annotations

from services.api.common import ReadModel, UtcDateTime


class HeartbeatRead(ReadModel):
    """One Heartbeat received from a charge point."""

    id: int
    chargepoint_id: str
    timestamp: UtcDateTime
