"""The charging service's route table: `csms.events` routing key -> handler."""

from __future__ import annotations

from services.charging import command_effects
from services.charging.handlers.events import EventHandlers
from services.charging.handlers.profiles import ProfileHandlers
from services.charging.installer import Installer
from services.charging.sending import Db
from shared.bus.topology import EVENTS
from shared.charging import CLEAR_PROFILE, INSTALL_PROFILE
from shared.dispatch import Route, Router

TRANSACTION_STARTED = "transaction.started"
TRANSACTION_STOPPED = "transaction.stopped"
CONNECTOR_STATUS_CHANGED = "connector.status_changed"
CHARGEPOINT_CONNECTED = "chargepoint.connected"
CHARGEPOINT_DISCONNECTED = "chargepoint.disconnected"


def build_router(installer: Installer, db: Db) -> Router:
    """The route table with handlers bound to `installer` (tests inject a fake sender) and
    the service's sessionmaker (handlers run their own short transactions)."""
    events = EventHandlers(installer, db)
    profiles = ProfileHandlers(installer, db)
    return Router(
        [
            # Domain events of the registry and transactions services (site load balancing).
            Route(EVENTS, TRANSACTION_STARTED, events.transaction_started, log_message=False),
            Route(EVENTS, TRANSACTION_STOPPED, events.transaction_stopped, log_message=False),
            Route(
                EVENTS,
                CONNECTOR_STATUS_CHANGED,
                events.connector_status_changed,
                log_message=False,
            ),
            Route(EVENTS, CHARGEPOINT_CONNECTED, events.chargepoint_connected, log_message=False),
            Route(
                EVENTS,
                CHARGEPOINT_DISCONNECTED,
                events.chargepoint_disconnected,
                log_message=False,
            ),
            # RPCs of the API: install / clear a stored profile.
            Route(EVENTS, INSTALL_PROFILE, profiles.install, log_message=False, rpc=True),
            Route(EVENTS, CLEAR_PROFILE, profiles.clear, log_message=False, rpc=True),
            # Profiles sent with the commands API (csms.charging.command-effects).
            *command_effects.ROUTES,
        ]
    )
