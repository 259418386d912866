"""The transactions service's route table: upstream routing key -> handler (one per action)."""

from __future__ import annotations

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
from services.transactions.locks import CHARGEPOINT_BOOTED, CONNECTOR_STATUS_CHANGED, lock_batch
from shared.bus.topology import EVENTS, UPSTREAM, upstream_key
from shared.dispatch import Route, Router

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"

ROUTES: list[Route] = [
    Route(UPSTREAM, upstream_key(V16, "Authorize"), authorize.handle, rpc=True),
    Route(UPSTREAM, upstream_key(V16, "StartTransaction"), start_transaction.handle, rpc=True),
    Route(UPSTREAM, upstream_key(V16, "StopTransaction"), stop_transaction.handle, rpc=True),
    Route(UPSTREAM, upstream_key(V16, "MeterValues"), meter_values.handle),
    # OCPP 2.0.1.
    Route(UPSTREAM, upstream_key(V201, "Authorize"), authorize_201.handle, rpc=True),
    Route(UPSTREAM, upstream_key(V201, "TransactionEvent"), transaction_event.handle, rpc=True),
    Route(UPSTREAM, upstream_key(V201, "MeterValues"), meter_values_201.handle),
    Route(
        UPSTREAM,
        upstream_key(V201, "ReservationStatusUpdate"),
        reservation_status_update.handle,
    ),
    # The registry's events: connector idle (Available) or running, charge point rebooted;
    # the stale sweep closes what they show abandoned (closing.py, sweeper.py).
    Route(EVENTS, CONNECTOR_STATUS_CHANGED, events.connector_status_changed, log_message=False),
    Route(EVENTS, CHARGEPOINT_BOOTED, events.chargepoint_booted, log_message=False),
    # Effects of central-system commands (ReserveNow, CancelReservation).
    *command_effects.ROUTES,
]

# The batch's row locks are taken first, in one order (locks.py): no deadlocks.
ROUTER = Router(ROUTES, before_batch=lock_batch)
