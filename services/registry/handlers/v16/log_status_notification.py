"""LogStatusNotification (1.6 security whitepaper): the latest log upload status.

It is the security extension's successor of DiagnosticsStatusNotification, so it is kept in
the same column (whose value set includes UploadLogStatusEnumType); the message log keeps
the history with the requestId.
"""

from __future__ import annotations

from services.registry.queries import latest_status_handler
from shared.db import enums

handle = latest_status_handler(
    "diagnostics_status", enums.DIAGNOSTICS_STATUSES, "chargepoint.diagnostics_status"
)
