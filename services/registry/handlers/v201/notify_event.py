"""NotifyEvent (OCPP 2.0.1 N07): monitoring events; the message log row is the record."""

from __future__ import annotations

from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.notify_event_request import NotifyEventRequest


async def handle(ctx: HandlerContext, env: Envelope, req: NotifyEventRequest) -> None:
    """Nothing beyond the message log (written by the dispatcher); the gateway answered {}."""
