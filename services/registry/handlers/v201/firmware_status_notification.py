"""FirmwareStatusNotification (OCPP 2.0.1 L01): the latest firmware status on the station.

Same column as 1.6 (its value set includes FirmwareStatusEnumType); the requestId is in the
event and the message log.
"""

from __future__ import annotations

from services.registry.queries import latest_status_handler
from shared.db import enums

handle = latest_status_handler(
    "firmware_status", enums.FIRMWARE_STATUSES, "chargepoint.firmware_status"
)
