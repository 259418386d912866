"""NotifyEvent (OCPP 2.0.1 N07): monitoring events; the message log row is the record."""

from __future__ import annotations

from services.registry.queries import chargepoint_id_of
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Nothing beyond the message log (written by the dispatcher); the gateway answered {}."""
    chargepoint_id_of(env)
    return None
