"""The names of the domain events on `csms.events` that another service consumes.

One definition each: the publisher emits with it, the consumers route on it.
"""

from __future__ import annotations

from typing import Final

CHARGEPOINT_BOOTED: Final = "chargepoint.booted"
"""The registry registered a BootNotification (transactions marks what was open)."""
CHARGEPOINT_CONNECTED: Final = "chargepoint.connected"
CHARGEPOINT_DISCONNECTED: Final = "chargepoint.disconnected"
"""The registry applied a gateway connect / disconnect (charging reinstalls, rebalances)."""
CONNECTOR_STATUS_CHANGED: Final = "connector.status_changed"
"""The registry applied a connector's new status (transactions marks idle, charging
rebalances)."""
TRANSACTION_STARTED: Final = "transaction.started"
TRANSACTION_STOPPED: Final = "transaction.stopped"
"""The transactions service recorded a start / a stop (charging rebalances)."""
CHARGING_CONSTRAINTS_CHANGED: Final = "charging.constraints_changed"
"""The charging service stored an external limit (NotifyChargingLimit / ClearedChargingLimit)
or an EV's needs of a 2.0.1 station (it rebalances the station's location)."""
TRANSACTION_CHARGING_STATE_CHANGED: Final = "transaction.charging_state_changed"
"""A 2.0.1 transaction's chargingState changed (charging rebalances: an idle session keeps
only its minimum)."""
