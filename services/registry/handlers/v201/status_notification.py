"""StatusNotification (OCPP 2.0.1 G01): stored and applied like 1.6, keyed by evseId.

One connector per EVSE (docs/data-model.md): the connector row's `connectorid` is the evseId;
the reported connectorId (within the EVSE) stays in the message log. 2.0.1 has no error
code: `NoError` is stored. evseId 0 is the station itself, as connectorId 0 in 1.6.
"""

from __future__ import annotations

from services.registry.status import record_status
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.status_notification_request import StatusNotificationRequest

NO_ERROR = "NoError"


async def handle(ctx: HandlerContext, env: Envelope, req: StatusNotificationRequest) -> None:
    """Apply the report if it is the latest, and always store it."""
    await record_status(
        ctx,
        env,
        connector_id=req.evse_id,
        status=req.connector_status.value,
        error_code=NO_ERROR,
        reported=req.timestamp,
    )
