"""The registry's route table: routing key -> request model -> handler (one module per action).

Every route names the model its payload is parsed into before the handler runs
(shared/dispatch.py): the generated OCPP models for the charge points' CALLs (`ocpp_route`
checks the model is its action's), shared/messages.py for the gateway's own messages.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.registry import command_effects
from services.registry.handlers import connect_auth, gateway_events, v201
from services.registry.handlers.v16 import (
    boot_notification,
    data_transfer,
    diagnostics_status_notification,
    firmware_status_notification,
    heartbeat,
    log_status_notification,
    security_event_notification,
    sign_certificate,
    signed_firmware_status_notification,
    status_notification,
)
from services.registry.heartbeats import record_gateway_heartbeats
from services.registry.locking import lock_batch
from shared.bus.topology import (
    GATEWAY_AUTHENTICATE,
    GATEWAY_CONNECTED,
    GATEWAY_DISCONNECTED,
    GATEWAY_FRAME_LOG,
    GATEWAY_HEARTBEATS,
    GATEWAY_SECURITY_EVENT,
    UPSTREAM,
)
from shared.dispatch import Route, Router, ocpp_route
from shared.messages import (
    GatewayAuthenticate,
    GatewayConnection,
    GatewayFrameLog,
    GatewayHeartbeats,
    GatewaySecurityEvent,
)
from shared.ocpp import OCPP16, OCPP201
from shared.ocpp.v16.boot_notification_request import BootNotificationRequest as Boot16
from shared.ocpp.v16.data_transfer_request import DataTransferRequest as DataTransfer16
from shared.ocpp.v16.diagnostics_status_notification_request import (
    DiagnosticsStatusNotificationRequest as Diagnostics16,
)
from shared.ocpp.v16.firmware_status_notification_request import (
    FirmwareStatusNotificationRequest as Firmware16,
)
from shared.ocpp.v16.heartbeat_request import HeartbeatRequest as Heartbeat16
from shared.ocpp.v16.log_status_notification_request import (
    LogStatusNotificationRequest as LogStatus16,
)
from shared.ocpp.v16.security_event_notification_request import (
    SecurityEventNotificationRequest as SecurityEvent16,
)
from shared.ocpp.v16.sign_certificate_request import SignCertificateRequest as SignCertificate16
from shared.ocpp.v16.signed_firmware_status_notification_request import (
    SignedFirmwareStatusNotificationRequest as SignedFirmware16,
)
from shared.ocpp.v16.status_notification_request import StatusNotificationRequest as Status16
from shared.ocpp.v201.boot_notification_request import BootNotificationRequest as Boot201
from shared.ocpp.v201.data_transfer_request import DataTransferRequest as DataTransfer201
from shared.ocpp.v201.firmware_status_notification_request import (
    FirmwareStatusNotificationRequest as Firmware201,
)
from shared.ocpp.v201.get15118_ev_certificate_request import (
    Get15118EVCertificateRequest as Get15118EVCertificate201,
)
from shared.ocpp.v201.get_certificate_status_request import (
    GetCertificateStatusRequest as GetCertificateStatus201,
)
from shared.ocpp.v201.heartbeat_request import HeartbeatRequest as Heartbeat201
from shared.ocpp.v201.log_status_notification_request import (
    LogStatusNotificationRequest as LogStatus201,
)
from shared.ocpp.v201.notify_customer_information_request import (
    NotifyCustomerInformationRequest as NotifyCustomerInformation201,
)
from shared.ocpp.v201.notify_display_messages_request import (
    NotifyDisplayMessagesRequest as NotifyDisplayMessages201,
)
from shared.ocpp.v201.notify_event_request import NotifyEventRequest as NotifyEvent201
from shared.ocpp.v201.notify_monitoring_report_request import (
    NotifyMonitoringReportRequest as NotifyMonitoringReport201,
)
from shared.ocpp.v201.notify_report_request import NotifyReportRequest as NotifyReport201
from shared.ocpp.v201.publish_firmware_status_notification_request import (
    PublishFirmwareStatusNotificationRequest as PublishFirmwareStatus201,
)
from shared.ocpp.v201.security_event_notification_request import (
    SecurityEventNotificationRequest as SecurityEvent201,
)
from shared.ocpp.v201.sign_certificate_request import (
    SignCertificateRequest as SignCertificate201,
)
from shared.ocpp.v201.status_notification_request import StatusNotificationRequest as Status201

V16, V201 = OCPP16, OCPP201
CERTIFICATE_STATUS = "certificate-status"

ROUTES: list[Route[Any]] = [
    # RPC: the answer needs state.
    ocpp_route(V16, "BootNotification", boot_notification.handle, Boot16, rpc=True),
    ocpp_route(V16, "DataTransfer", data_transfer.handle, DataTransfer16, rpc=True),
    # Certificates the CSMS issues (certificates.py): the answer says whether one follows.
    ocpp_route(V16, "SignCertificate", sign_certificate.handle, SignCertificate16, rpc=True),
    ocpp_route(V201, "SignCertificate", v201.sign_certificate.handle, SignCertificate201, rpc=True),
    # Answered by a provider that may wait on another system (an OCSP responder): on a queue
    # of their own (csms.registry.certificate-status), one at a time, no row locks.
    replace(
        ocpp_route(
            V201,
            "GetCertificateStatus",
            v201.get_certificate_status.handle,
            GetCertificateStatus201,
            rpc=True,
        ),
        own_queue=CERTIFICATE_STATUS,
    ),
    replace(
        ocpp_route(
            V201,
            "Get15118EVCertificate",
            v201.get_15118_ev_certificate.handle,
            Get15118EVCertificate201,
            rpc=True,
        ),
        own_queue=CERTIFICATE_STATUS,
    ),
    # Security profile 1: the gateway asks before it accepts a websocket (not an OCPP frame).
    Route(
        UPSTREAM,
        GATEWAY_AUTHENTICATE,
        connect_auth.handle,
        GatewayAuthenticate,
        log_message=False,
        rpc=True,
    ),
    # Fire-and-forget: the gateway answered once the broker confirmed.
    ocpp_route(V16, "Heartbeat", heartbeat.handle, Heartbeat16),
    ocpp_route(V16, "StatusNotification", status_notification.handle, Status16),
    ocpp_route(V16, "FirmwareStatusNotification", firmware_status_notification.handle, Firmware16),
    ocpp_route(
        V16,
        "DiagnosticsStatusNotification",
        diagnostics_status_notification.handle,
        Diagnostics16,
    ),
    # OCPP 1.6 security whitepaper.
    ocpp_route(
        V16, "SecurityEventNotification", security_event_notification.handle, SecurityEvent16
    ),
    ocpp_route(V16, "LogStatusNotification", log_status_notification.handle, LogStatus16),
    ocpp_route(
        V16,
        "SignedFirmwareStatusNotification",
        signed_firmware_status_notification.handle,
        SignedFirmware16,
    ),
    # OCPP 2.0.1 (services/gateway/versions/v201.py lists which are RPC).
    ocpp_route(V201, "BootNotification", v201.boot_notification.handle, Boot201, rpc=True),
    ocpp_route(V201, "DataTransfer", v201.data_transfer.handle, DataTransfer201, rpc=True),
    ocpp_route(V201, "Heartbeat", v201.heartbeat.handle, Heartbeat201),
    ocpp_route(V201, "StatusNotification", v201.status_notification.handle, Status201),
    ocpp_route(
        V201,
        "FirmwareStatusNotification",
        v201.firmware_status_notification.handle,
        Firmware201,
    ),
    ocpp_route(V201, "LogStatusNotification", v201.log_status_notification.handle, LogStatus201),
    ocpp_route(
        V201,
        "SecurityEventNotification",
        v201.security_event_notification.handle,
        SecurityEvent201,
    ),
    ocpp_route(V201, "NotifyEvent", v201.notify_event.handle, NotifyEvent201),
    ocpp_route(V201, "NotifyReport", v201.notify_report.handle, NotifyReport201),
    # The device model and the reports the CSMS asked for (device_model.py).
    ocpp_route(
        V201,
        "NotifyMonitoringReport",
        v201.notify_monitoring_report.handle,
        NotifyMonitoringReport201,
    ),
    ocpp_route(
        V201,
        "NotifyCustomerInformation",
        v201.notify_customer_information.handle,
        NotifyCustomerInformation201,
    ),
    ocpp_route(
        V201, "NotifyDisplayMessages", v201.notify_display_messages.handle, NotifyDisplayMessages201
    ),
    ocpp_route(
        V201,
        "PublishFirmwareStatusNotification",
        v201.publish_firmware_status_notification.handle,
        PublishFirmwareStatus201,
    ),
    # Gateway housekeeping: not OCPP frames, so no message-log rows of their own
    # (frame_log writes the ocpp_message rows itself).
    Route(
        UPSTREAM, GATEWAY_CONNECTED, gateway_events.connected, GatewayConnection, log_message=False
    ),
    Route(
        UPSTREAM,
        GATEWAY_DISCONNECTED,
        gateway_events.disconnected,
        GatewayConnection,
        log_message=False,
    ),
    # Certificate refusals the gateway decided (services/gateway/security_events.py); any id,
    # known or not: no charge point row is needed nor locked.
    Route(
        UPSTREAM,
        GATEWAY_SECURITY_EVENT,
        gateway_events.security_event,
        GatewaySecurityEvent,
        log_message=False,
    ),
    Route(
        UPSTREAM,
        GATEWAY_HEARTBEATS,
        record_gateway_heartbeats,
        GatewayHeartbeats,
        log_message=False,
        chargepoint_required=False,
    ),
    Route(
        UPSTREAM,
        GATEWAY_FRAME_LOG,
        gateway_events.frame_log,
        GatewayFrameLog,
        log_message=False,
        chargepoint_required=False,
    ),
    # Effects of central-system commands (ChangeAvailability, configuration, local list).
    *command_effects.ROUTES,
]

ROUTER = Router(ROUTES, before_batch=lock_batch)
"""Every batch takes its row locks first, in one global order (locking.py)."""
