"""The OCPP message log."""

from __future__ import annotations

from typing import Any, Literal

from services.api.common import ReadModel, UtcDateTime

Direction = Literal["in", "out"]


class OcppMessageRead(ReadModel):
    """One OCPP-J frame: `message_type` 2 CALL, 3 CALLRESULT, 4 CALLERROR."""

    id: int
    chargepoint_id: str
    direction: str
    message_type: int
    action: str | None = None
    unique_id: str
    payload: Any
    error_code: str | None = None
    error_description: str | None = None
    message_id: str | None = None
    created_at: UtcDateTime
