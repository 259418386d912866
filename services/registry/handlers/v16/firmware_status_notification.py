"""FirmwareStatusNotification (OCPP 1.6 §4.5): the latest firmware status on the charge point."""

from __future__ import annotations

from services.registry.queries import latest_status_handler
from shared.db import enums

handle = latest_status_handler(
    "firmware_status", enums.FIRMWARE_STATUSES, "chargepoint.firmware_status"
)
