"""StatusNotification (OCPP 2.0.1 G01): stored and applied like 1.6, keyed by evseId.

One connector per EVSE (docs/data-model.md): the connector row's `connectorid` is the evseId;
the reported connectorId (within the EVSE) stays in the message log. 2.0.1 has no error
code: `NoError` is stored. evseId 0 is the station itself, as connectorId 0 in 1.6.
"""

from __future__ import annotations

from services.registry.policy import parse_timestamp
from services.registry.status import record_status
from shared.bus.errors import Reject
from shared.db import enums
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

NO_ERROR = "NoError"


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Apply the report if it is the latest, and always store it."""
    payload = env.payload
    evse_id = payload.get("evseId")
    status = payload.get("connectorStatus")
    if (
        not isinstance(evse_id, int)
        or not isinstance(status, str)
        or status not in enums.CONNECTOR_STATUSES
    ):
        raise Reject(f"StatusNotification the gateway should have refused: {payload!r}")
    await record_status(
        ctx,
        env,
        connector_id=evse_id,
        status=status,
        error_code=NO_ERROR,
        reported=parse_timestamp(payload.get("timestamp")),
    )
    return None
