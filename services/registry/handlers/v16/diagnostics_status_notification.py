"""DiagnosticsStatusNotification (OCPP 1.6 §4.4): the latest diagnostics upload status."""

from __future__ import annotations

from services.registry.queries import latest_status_handler
from shared.db import enums

handle = latest_status_handler(
    "diagnostics_status", enums.DIAGNOSTICS_STATUSES, "chargepoint.diagnostics_status"
)
