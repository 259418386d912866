"""Effects of OCPP 2.0.1 commands on reservations and transactions (rows sent as 2.0.1).

Applied by the transactions service's effect consumer with the 1.6 ones
(command_effects.py), in `seq` order, from the request and answer as typed models:

- ReserveNow (H01) Accepted -> a `reservation` as in 1.6: `connectorid` = evseId (0 when
  none is given: any EVSE of the station), id_tag = idToken.idToken, parent_id_tag =
  groupIdToken.idToken, expiry = expiryDateTime. The requested connectorType is not stored
  (the command log keeps it).
- CancelReservation (H02) Accepted -> the Active reservation with that id becomes Cancelled.
- RequestStartTransaction (F01, F02) Accepted with a `transactionId` (the station had started
  the transaction before, e.g. cable plugged in first) -> that transaction's
  `remote_start_id` = the sent remoteStartId. Otherwise the station's TransactionEvent
  carries `transactionInfo.remoteStartId` and its handler records it.
"""

from __future__ import annotations

from sqlalchemy import update

from services.transactions.command_effects import cancel, record_reservation
from services.transactions.tables import TRANSACTION
from shared.command_outbox import Effect, typed_effect
from shared.dispatch import HandlerContext
from shared.ocpp.v201.cancel_reservation_request import CancelReservationRequest
from shared.ocpp.v201.cancel_reservation_response import CancelReservationResponse
from shared.ocpp.v201.request_start_transaction_request import RequestStartTransactionRequest
from shared.ocpp.v201.request_start_transaction_response import (
    RequestStartTransactionResponse,
)
from shared.ocpp.v201.reserve_now_request import ReserveNowRequest
from shared.ocpp.v201.reserve_now_response import ReserveNowResponse

ACCEPTED = "Accepted"


async def reserve_now(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: ReserveNowRequest,
    response: ReserveNowResponse,
) -> None:
    """Accepted -> the reservation, Active (or Expired if its expiry is past)."""
    if response.status.value != ACCEPTED:
        return
    await record_reservation(
        ctx,
        chargepoint_id,
        connector_id=request.evse_id if request.evse_id is not None else 0,
        reservation_id=request.id,
        id_tag=request.id_token.id_token,
        parent_id_tag=request.group_id_token.id_token if request.group_id_token else None,
        expiry=request.expiry_date_time,
    )


async def cancel_reservation(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: CancelReservationRequest,
    response: CancelReservationResponse,
) -> None:
    """Accepted -> the Active reservation of this station becomes Cancelled."""
    if response.status.value == ACCEPTED:
        await cancel(ctx, chargepoint_id, request.reservation_id)


async def request_start_transaction(
    ctx: HandlerContext,
    chargepoint_id: str,
    request: RequestStartTransactionRequest,
    response: RequestStartTransactionResponse,
) -> None:
    """Accepted for a transaction already running -> it is linked to the remoteStartId."""
    if response.status.value != ACCEPTED or response.transaction_id is None:
        return
    t = TRANSACTION.c
    await ctx.session.execute(
        update(TRANSACTION)
        .where(
            t.chargepoint_id == chargepoint_id,
            t.remote_transaction_id == response.transaction_id,
            t.remote_start_id.is_(None),
        )
        .values(remote_start_id=request.remote_start_id, updated_at=ctx.now)
    )


EFFECTS: dict[str, Effect] = {
    "ReserveNow": typed_effect(ReserveNowRequest, ReserveNowResponse, reserve_now),
    "CancelReservation": typed_effect(
        CancelReservationRequest, CancelReservationResponse, cancel_reservation
    ),
    "RequestStartTransaction": typed_effect(
        RequestStartTransactionRequest, RequestStartTransactionResponse, request_start_transaction
    ),
}
"""2.0.1 action -> effect of its CALLRESULT."""
