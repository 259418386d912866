"""The charging service's route table: `csms.events` routing key -> request model -> handler."""

from __future__ import annotations

from services.charging import command_effects
from services.charging.handlers import v201
from services.charging.handlers.events import EventHandlers
from services.charging.handlers.profiles import ProfileHandlers
from services.charging.installer import Installer
from services.charging.sending import Db
from shared.bus.topology import EVENTS
from shared.charging import CLEAR_PROFILE, INSTALL_PROFILE
from shared.dispatch import Route, Router, ocpp_route
from shared.event_names import (
    CHARGEPOINT_CONNECTED,
    CHARGEPOINT_DISCONNECTED,
    CHARGING_CONSTRAINTS_CHANGED,
    CONNECTOR_STATUS_CHANGED,
    TRANSACTION_CHARGING_STATE_CHANGED,
    TRANSACTION_STARTED,
    TRANSACTION_STOPPED,
)
from shared.messages import NoFields, ProfileRequest
from shared.ocpp import OCPP201
from shared.ocpp.v201.cleared_charging_limit_request import (
    ClearedChargingLimitRequest as ClearedChargingLimit,
)
from shared.ocpp.v201.notify_charging_limit_request import (
    NotifyChargingLimitRequest as NotifyChargingLimit,
)
from shared.ocpp.v201.notify_ev_charging_needs_request import (
    NotifyEVChargingNeedsRequest as NotifyEVChargingNeeds,
)
from shared.ocpp.v201.notify_ev_charging_schedule_request import (
    NotifyEVChargingScheduleRequest as NotifyEVChargingSchedule,
)
from shared.ocpp.v201.report_charging_profiles_request import (
    ReportChargingProfilesRequest as ReportChargingProfiles,
)


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
        (CHARGING_CONSTRAINTS_CHANGED, events.constraints_changed),
        (TRANSACTION_CHARGING_STATE_CHANGED, events.connector_status_changed),
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
            # OCPP 2.0.1 smart-charging messages of the stations (handlers/v201.py).
            ocpp_route(
                OCPP201, "NotifyChargingLimit", v201.notify_charging_limit, NotifyChargingLimit
            ),
            ocpp_route(
                OCPP201, "ClearedChargingLimit", v201.cleared_charging_limit, ClearedChargingLimit
            ),
            ocpp_route(
                OCPP201,
                "ReportChargingProfiles",
                v201.report_charging_profiles,
                ReportChargingProfiles,
            ),
            ocpp_route(
                OCPP201,
                "NotifyEVChargingNeeds",
                v201.notify_ev_charging_needs,
                NotifyEVChargingNeeds,
                rpc=True,
            ),
            ocpp_route(
                OCPP201,
                "NotifyEVChargingSchedule",
                v201.notify_ev_charging_schedule,
                NotifyEVChargingSchedule,
                rpc=True,
            ),
            # Profiles sent with the commands API (csms.charging.command-effects).
            *command_effects.ROUTES,
        ]
    )
