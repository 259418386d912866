"""SignedFirmwareStatusNotification (1.6 security whitepaper): the latest firmware status.

Same column as FirmwareStatusNotification; the requestId stays in the message log.
"""

from __future__ import annotations

from services.registry.queries import latest_status_handler
from shared.db import enums

handle = latest_status_handler(
    "firmware_status", enums.FIRMWARE_STATUSES, "chargepoint.firmware_status"
)
