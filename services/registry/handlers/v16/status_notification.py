"""StatusNotification (OCPP 1.6 §4.9): latest status per connector, every report kept.

The rules (connectorId 0, ordering, Scheduled availability) are in services/registry/status.py,
shared with 2.0.1.
"""

from __future__ import annotations

from services.registry.policy import parse_timestamp
from services.registry.status import record_status, resolved_availability
from shared.bus.errors import Reject
from shared.db import enums
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

__all__ = ["handle", "resolved_availability"]


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Apply the report if it is the latest, and always store it."""
    payload = env.payload
    connector_id = payload.get("connectorId")
    status = payload.get("status")
    error_code = payload.get("errorCode")
    if (
        not isinstance(connector_id, int)
        or not isinstance(status, str)
        or status not in enums.CONNECTOR_STATUSES
        or not isinstance(error_code, str)
        or error_code not in enums.CONNECTOR_ERROR_CODES
    ):
        raise Reject(f"StatusNotification the gateway should have refused: {payload!r}")
    await record_status(
        ctx,
        env,
        connector_id=connector_id,
        status=status,
        error_code=error_code,
        reported=parse_timestamp(payload.get("timestamp")),
        extra={
            "info": payload.get("info"),
            "vendor_id": payload.get("vendorId"),
            "vendor_error_code": payload.get("vendorErrorCode"),
        },
    )
    return None
