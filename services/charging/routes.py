"""The charging service's route table: `csms.events` routing key -> request model -> handler."""

from __future__ import annotations

from services.charging import command_effects
from services.charging.handlers.events import EventHandlers
from services.charging.handlers.profiles import ProfileHandlers
from services.charging.installer import Installer
from services.charging.sending import Db
from shared.bus.topology import EVENTS
from shared.charging import CLEAR_PROFILE, INSTALL_PROFILE
from shared.dispatch import Route, Router
from shared.event_names import (
    CHARGEPOINT_CONNECTED,
    CHARGEPOINT_DISCONNECTED,
    CONNECTOR_STATUS_CHANGED,
    TRANSACTION_STARTED,
    TRANSACTION_STOPPED,
)
from shared.messages import NoFields, ProfileRequest


def build_router(installer: Installer, db: Db) -> Router:
    """The route table with handlers bound to `installer` (tests inject a fake sender) and
    the service's sessionmaker (handlers run their own short transactions)."""
    events = EventHandlers(installer, db)
    profiles = ProfileHandlers(installer, db)
    # Domain events of the registry and transactions services (site load balancing): the
    # charge point the envelope names is all they read.
    rebalancing = [
        (TRANSACTION_STARTED, events.transaction_started),
        (TRANSACTION_STOPPED, events.transaction_stopped),
        (CONNECTOR_STATUS_CHANGED, events.connector_status_changed),
        (CHARGEPOINT_CONNECTED, events.chargepoint_connected),
        (CHARGEPOINT_DISCONNECTED, events.chargepoint_disconnected),
    ]
    return Router(
        [
            *(
                Route(EVENTS, key, handler, NoFields, log_message=False)
                for key, handler in rebalancing
            ),
            # RPCs of the API: install / clear a stored profile (no charge point named).
            Route(
                EVENTS,
                INSTALL_PROFILE,
                profiles.install,
                ProfileRequest,
                log_message=False,
                rpc=True,
                chargepoint_required=False,
            ),
            Route(
                EVENTS,
                CLEAR_PROFILE,
                profiles.clear,
                ProfileRequest,
                log_message=False,
                rpc=True,
                chargepoint_required=False,
            ),
            # Profiles sent with the commands API (csms.charging.command-effects).
            *command_effects.ROUTES,
        ]
    )
