"""Station notifications that answer the CSMS's 2.0.1 commands; the message log is the record.

Reports a station sends after accepting a command (2.0.1: the command's answer says
Accepted, the data follows in these messages, each answered `{}` by the gateway once queued):

- NotifyCustomerInformation (N09/N10, after CustomerInformation),
- NotifyDisplayMessages (O04, after GetDisplayMessages),
- NotifyMonitoringReport (N02, after GetMonitoringReport),
- PublishFirmwareStatusNotification (L03, after PublishFirmware).

ReportChargingProfiles, NotifyChargingLimit and ClearedChargingLimit are the charging
service's (services/charging/handlers/v201.py: stored, and they feed the load balancer).

They are stored in `ocpp_message` (the dispatcher writes the row) and read through
`GET /ocpp-messages?action=...`; structured storage (display messages, monitors) is issue
12 part B.
"""

from __future__ import annotations

from typing import Final

from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.notify_customer_information_request import (
    NotifyCustomerInformationRequest,
)
from shared.ocpp.v201.notify_display_messages_request import NotifyDisplayMessagesRequest
from shared.ocpp.v201.notify_monitoring_report_request import NotifyMonitoringReportRequest
from shared.ocpp.v201.publish_firmware_status_notification_request import (
    PublishFirmwareStatusNotificationRequest,
)

Notification = (
    NotifyCustomerInformationRequest
    | NotifyDisplayMessagesRequest
    | NotifyMonitoringReportRequest
    | PublishFirmwareStatusNotificationRequest
)

MODELS: Final[dict[str, type[Notification]]] = {
    "NotifyCustomerInformation": NotifyCustomerInformationRequest,
    "NotifyDisplayMessages": NotifyDisplayMessagesRequest,
    "NotifyMonitoringReport": NotifyMonitoringReportRequest,
    "PublishFirmwareStatusNotification": PublishFirmwareStatusNotificationRequest,
}
"""Action -> its request model (the route table checks each against `request_model`)."""
ACTIONS: Final = tuple(MODELS)


async def handle(ctx: HandlerContext, env: Envelope, req: Notification) -> None:
    """Nothing beyond the message log (written by the dispatcher); the gateway answered {}."""
