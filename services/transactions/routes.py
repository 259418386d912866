"""The transactions service's route table: upstream routing key -> handler (one per action)."""

from __future__ import annotations

from services.transactions import command_effects
from services.transactions.handlers.v16 import (
    authorize,
    meter_values,
    start_transaction,
    stop_transaction,
)
from services.transactions.handlers.v201 import authorize as authorize_201
from services.transactions.handlers.v201 import meter_values as meter_values_201
from services.transactions.handlers.v201 import transaction_event
from shared.bus.topology import UPSTREAM, upstream_key
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
    # Effects of central-system commands (ReserveNow, CancelReservation).
    *command_effects.ROUTES,
]

ROUTER = Router(ROUTES)
