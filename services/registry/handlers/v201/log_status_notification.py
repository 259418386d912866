"""LogStatusNotification (OCPP 2.0.1 N01): the latest log upload status.

Kept in `diagnostics_status` like 1.6's (the column's value set includes
UploadLogStatusEnumType); the requestId is in the event and the message log.
"""

from __future__ import annotations

from services.registry.queries import latest_status_handler
from shared.db import enums

handle = latest_status_handler(
    "diagnostics_status", enums.DIAGNOSTICS_STATUSES, "chargepoint.diagnostics_status"
)
