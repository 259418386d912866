"""OCPP 2.0.1 handlers of the registry (one module per action)."""

from services.registry.handlers.v201 import (
    boot_notification,
    data_transfer,
    firmware_status_notification,
    get_15118_ev_certificate,
    get_certificate_status,
    heartbeat,
    log_status_notification,
    notify_customer_information,
    notify_display_messages,
    notify_event,
    notify_monitoring_report,
    notify_report,
    publish_firmware_status_notification,
    security_event_notification,
    sign_certificate,
    status_notification,
)

__all__ = [
    "boot_notification",
    "data_transfer",
    "firmware_status_notification",
    "get_15118_ev_certificate",
    "get_certificate_status",
    "heartbeat",
    "log_status_notification",
    "notify_customer_information",
    "notify_display_messages",
    "notify_event",
    "notify_monitoring_report",
    "notify_report",
    "publish_firmware_status_notification",
    "security_event_notification",
    "sign_certificate",
    "status_notification",
]
