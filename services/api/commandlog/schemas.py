"""Commands sent to charge points."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from services.api.common import ReadModel, UtcDateTime

CommandOutcome = Literal["pending", "result", "error", "offline", "timeout", "lost", "refused"]


class CommandLogRead(ReadModel):
    """A command, its request and how it ended; `id` is the correlation id."""

    id: uuid.UUID
    chargepoint_id: str
    action: str
    request: dict[str, Any]
    outcome: str
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    requested_by: str | None = None
    created_at: UtcDateTime
    completed_at: UtcDateTime | None = None
    ocpp_version: str | None = None
