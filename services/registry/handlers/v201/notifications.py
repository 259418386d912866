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

from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.cleared_charging_limit_request import ClearedChargingLimitRequest
from shared.ocpp.v201.notify_charging_limit_request import NotifyChargingLimitRequest
from shared.ocpp.v201.notify_customer_information_request import (
    NotifyCustomerInformationRequest,
)
from shared.ocpp.v201.notify_display_messages_request import NotifyDisplayMessagesRequest
from shared.ocpp.v201.notify_monitoring_report_request import NotifyMonitoringReportRequest
from shared.ocpp.v201.publish_firmware_status_notification_request import (
    PublishFirmwareStatusNotificationRequest,
)
from shared.ocpp.v201.report_charging_profiles_request import ReportChargingProfilesRequest

Notification = (
    NotifyCustomerInformationRequest
    | NotifyDisplayMessagesRequest
    | NotifyMonitoringReportRequest
    | ReportChargingProfilesRequest
    | PublishFirmwareStatusNotificationRequest
    | NotifyChargingLimitRequest
    | ClearedChargingLimitRequest
)

MODELS: Final[dict[str, type[Notification]]] = {
    "NotifyCustomerInformation": NotifyCustomerInformationRequest,
    "NotifyDisplayMessages": NotifyDisplayMessagesRequest,
    "NotifyMonitoringReport": NotifyMonitoringReportRequest,
    "ReportChargingProfiles": ReportChargingProfilesRequest,
    "PublishFirmwareStatusNotification": PublishFirmwareStatusNotificationRequest,
    "NotifyChargingLimit": NotifyChargingLimitRequest,
    "ClearedChargingLimit": ClearedChargingLimitRequest,
}
"""Action -> its request model (the route table checks each against `request_model`)."""
ACTIONS: Final = tuple(MODELS)


async def handle(ctx: HandlerContext, env: Envelope, req: Notification) -> None:
    """Nothing beyond the message log (written by the dispatcher); the gateway answered {}."""
