"""Station notifications that answer the CSMS's 2.0.1 commands; the message log is the record.

Reports a station sends after accepting a command (2.0.1: the command's answer says
Accepted, the data follows in these messages, each answered `{}` by the gateway once queued):

- ReportChargingProfiles (K09, after GetChargingProfiles),
- NotifyChargingLimit / ClearedChargingLimit (K12/K13: an external limit on the station).

They are stored in `ocpp_message` (the dispatcher writes the row) and read through
`GET /ocpp-messages?action=...`. NotifyCustomerInformation, NotifyDisplayMessages,
NotifyMonitoringReport and PublishFirmwareStatusNotification have handlers of their own.
"""

from __future__ import annotations

from typing import Final

from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.cleared_charging_limit_request import ClearedChargingLimitRequest
from shared.ocpp.v201.notify_charging_limit_request import NotifyChargingLimitRequest
from shared.ocpp.v201.report_charging_profiles_request import ReportChargingProfilesRequest

Notification = (
    ReportChargingProfilesRequest | NotifyChargingLimitRequest | ClearedChargingLimitRequest
)

MODELS: Final[dict[str, type[Notification]]] = {
    "ReportChargingProfiles": ReportChargingProfilesRequest,
    "NotifyChargingLimit": NotifyChargingLimitRequest,
    "ClearedChargingLimit": ClearedChargingLimitRequest,
}
"""Action -> its request model (the route table checks each against `request_model`)."""
ACTIONS: Final = tuple(MODELS)


async def handle(ctx: HandlerContext, env: Envelope, req: Notification) -> None:
    """Nothing beyond the message log (written by the dispatcher); the gateway answered {}."""
