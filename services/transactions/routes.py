"""The transactions service's route table: routing key -> request model -> handler."""

from __future__ import annotations

from typing import Any

from services.transactions import command_effects, events
from services.transactions.handlers.v16 import (
    authorize,
    meter_values,
    start_transaction,
    stop_transaction,
)
from services.transactions.handlers.v201 import authorize as authorize_201
from services.transactions.handlers.v201 import meter_values as meter_values_201
from services.transactions.handlers.v201 import reservation_status_update, transaction_event
from services.transactions.locks import lock_batch
from shared.bus.topology import EVENTS
from shared.dispatch import Route, Router, ocpp_route
from shared.event_names import CHARGEPOINT_BOOTED, CONNECTOR_STATUS_CHANGED
from shared.messages import ConnectorStatusChanged, NoFields
from shared.ocpp import OCPP16, OCPP201
from shared.ocpp.v16.authorize_request import AuthorizeRequest as Authorize16
from shared.ocpp.v16.meter_values_request import MeterValuesRequest as MeterValues16
from shared.ocpp.v16.start_transaction_request import StartTransactionRequest
from shared.ocpp.v16.stop_transaction_request import StopTransactionRequest
from shared.ocpp.v201.authorize_request import AuthorizeRequest as Authorize201
from shared.ocpp.v201.meter_values_request import MeterValuesRequest as MeterValues201
from shared.ocpp.v201.reservation_status_update_request import ReservationStatusUpdateRequest
from shared.ocpp.v201.transaction_event_request import TransactionEventRequest

ROUTES: list[Route[Any]] = [
    ocpp_route(OCPP16, "Authorize", authorize.handle, Authorize16, rpc=True),
    ocpp_route(
        OCPP16, "StartTransaction", start_transaction.handle, StartTransactionRequest, rpc=True
    ),
    ocpp_route(
        OCPP16, "StopTransaction", stop_transaction.handle, StopTransactionRequest, rpc=True
    ),
    ocpp_route(OCPP16, "MeterValues", meter_values.handle, MeterValues16),
    # OCPP 2.0.1.
    ocpp_route(OCPP201, "Authorize", authorize_201.handle, Authorize201, rpc=True),
    ocpp_route(
        OCPP201, "TransactionEvent", transaction_event.handle, TransactionEventRequest, rpc=True
    ),
    ocpp_route(OCPP201, "MeterValues", meter_values_201.handle, MeterValues201),
    ocpp_route(
        OCPP201,
        "ReservationStatusUpdate",
        reservation_status_update.handle,
        ReservationStatusUpdateRequest,
    ),
    # The registry's events: connector idle (Available) or running, charge point rebooted;
    # the stale sweep closes what they show abandoned (closing.py, sweeper.py).
    Route(
        EVENTS,
        CONNECTOR_STATUS_CHANGED,
        events.connector_status_changed,
        ConnectorStatusChanged,
        log_message=False,
    ),
    Route(EVENTS, CHARGEPOINT_BOOTED, events.chargepoint_booted, NoFields, log_message=False),
    # Effects of central-system commands (ReserveNow, CancelReservation).
    *command_effects.ROUTES,
]

# The batch's row locks are taken first, in one order (locks.py): no deadlocks.
ROUTER = Router(ROUTES, before_batch=lock_batch)
