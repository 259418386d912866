"""ReservationStatusUpdate (OCPP 2.0.1 H01, H04): the station ends a reservation itself.

The station reports a reservation that expired (`Expired`) or that it removed (`Removed`,
e.g. its EVSE was made Inoperative): the station's Active reservation with that id becomes
`Expired` / `Cancelled`, and the public event `reservation.expired` / `reservation.cancelled`
is written with the change. A reservation already Used, Cancelled or Expired keeps its state
(a late report changes nothing: a reservation the CSMS's expiry sweep ended first gets no
second `reservation.expired`, reservation_expiry.py), and a report for a reservation not
recorded (yet: the ReserveNow's effect is applied from the command log on another queue) is
logged. The gateway answered `{}` once the message was queued.
"""

from __future__ import annotations

import logging
from typing import Final

from services.transactions.reservations import end_reservation
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.common import ReservationUpdateStatusEnumType
from shared.ocpp.v201.reservation_status_update_request import ReservationStatusUpdateRequest

log = logging.getLogger(__name__)

STATUS: Final = {
    ReservationUpdateStatusEnumType.expired: "Expired",
    ReservationUpdateStatusEnumType.removed: "Cancelled",
}
EVENT: Final = {
    ReservationUpdateStatusEnumType.expired: "reservation.expired",
    ReservationUpdateStatusEnumType.removed: "reservation.cancelled",
}


async def handle(ctx: HandlerContext, env: Envelope, req: ReservationStatusUpdateRequest) -> None:
    """The station's Active reservation becomes Expired or Cancelled."""
    status = req.reservation_update_status
    ended = await end_reservation(
        ctx,
        ctx.chargepoint_id,
        req.reservation_id,
        status=STATUS[status],
        event_type=EVENT[status],
        source="chargepoint",
    )
    if not ended:
        log.info(
            "ReservationStatusUpdate %s for reservation %s of %s: no Active reservation",
            status.value,
            req.reservation_id,
            ctx.chargepoint_id,
        )
