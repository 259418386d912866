"""Status notification history (ER diagram: StatusNotification)."""

from __future__ import annotations

import uuid

from services.api.common import ReadModel, UtcDateTime


class StatusNotificationRead(ReadModel):
    """One StatusNotification as received (`connectorid` 0 is the charge point itself)."""

    id: int
    chargepoint_id: str
    connectorid: int
    connector_uuid: uuid.UUID | None = None
    error_code: str
    info: str | None = None
    status: str
    timestamp: UtcDateTime | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    received_at: UtcDateTime
