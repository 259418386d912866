"""Station notifications that answer the CSMS's 2.0.1 commands; the message log is the record.

Reports a station sends after accepting a command (2.0.1: the command's answer says
Accepted, the data follows in these messages, each answered `{}` by the gateway once queued):

- NotifyCustomerInformation (N09/N10, after CustomerInformation),
- NotifyDisplayMessages (O04, after GetDisplayMessages),
- NotifyMonitoringReport (N02, after GetMonitoringReport),
- ReportChargingProfiles (K09, after GetChargingProfiles),
- PublishFirmwareStatusNotification (L03, after PublishFirmware),
- NotifyChargingLimit / ClearedChargingLimit (K12/K13: an external limit on the station).

They are stored in `ocpp_message` (the dispatcher writes the row) and read through
`GET /ocpp-messages?action=...`; structured storage (display messages, monitors, the
charging-limit schedule) is issue 12 part B.
"""

from __future__ import annotations

from typing import Final

from services.registry.queries import chargepoint_id_of
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

ACTIONS: Final = (
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyMonitoringReport",
    "ReportChargingProfiles",
    "PublishFirmwareStatusNotification",
    "NotifyChargingLimit",
    "ClearedChargingLimit",
)


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Nothing beyond the message log (written by the dispatcher); the gateway answered {}."""
    chargepoint_id_of(env)
    return None
