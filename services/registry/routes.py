"""The registry's route table: upstream routing key -> handler (one module per action)."""

from __future__ import annotations

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
    signed_firmware_status_notification,
    status_notification,
)
from services.registry.locking import lock_batch
from shared.bus.topology import (
    GATEWAY_AUTHENTICATE,
    GATEWAY_CONNECTED,
    GATEWAY_DISCONNECTED,
    GATEWAY_FRAME_LOG,
    UPSTREAM,
    upstream_key,
)
from shared.dispatch import Route, Router

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"

ROUTES: list[Route] = [
    # RPC: the answer needs state.
    Route(UPSTREAM, upstream_key(V16, "BootNotification"), boot_notification.handle, rpc=True),
    Route(UPSTREAM, upstream_key(V16, "DataTransfer"), data_transfer.handle, rpc=True),
    # Security profile 1: the gateway asks before it accepts a websocket (not an OCPP frame).
    Route(UPSTREAM, GATEWAY_AUTHENTICATE, connect_auth.handle, log_message=False, rpc=True),
    # Fire-and-forget: the gateway answered once the broker confirmed.
    Route(UPSTREAM, upstream_key(V16, "Heartbeat"), heartbeat.handle),
    Route(UPSTREAM, upstream_key(V16, "StatusNotification"), status_notification.handle),
    Route(
        UPSTREAM,
        upstream_key(V16, "FirmwareStatusNotification"),
        firmware_status_notification.handle,
    ),
    Route(
        UPSTREAM,
        upstream_key(V16, "DiagnosticsStatusNotification"),
        diagnostics_status_notification.handle,
    ),
    # OCPP 1.6 security whitepaper.
    Route(
        UPSTREAM,
        upstream_key(V16, "SecurityEventNotification"),
        security_event_notification.handle,
    ),
    Route(UPSTREAM, upstream_key(V16, "LogStatusNotification"), log_status_notification.handle),
    Route(
        UPSTREAM,
        upstream_key(V16, "SignedFirmwareStatusNotification"),
        signed_firmware_status_notification.handle,
    ),
    # OCPP 2.0.1 (services/gateway/versions/v201.py lists which are RPC).
    Route(
        UPSTREAM, upstream_key(V201, "BootNotification"), v201.boot_notification.handle, rpc=True
    ),
    Route(UPSTREAM, upstream_key(V201, "DataTransfer"), v201.data_transfer.handle, rpc=True),
    Route(UPSTREAM, upstream_key(V201, "Heartbeat"), v201.heartbeat.handle),
    Route(UPSTREAM, upstream_key(V201, "StatusNotification"), v201.status_notification.handle),
    Route(
        UPSTREAM,
        upstream_key(V201, "FirmwareStatusNotification"),
        v201.firmware_status_notification.handle,
    ),
    Route(
        UPSTREAM, upstream_key(V201, "LogStatusNotification"), v201.log_status_notification.handle
    ),
    Route(
        UPSTREAM,
        upstream_key(V201, "SecurityEventNotification"),
        v201.security_event_notification.handle,
    ),
    Route(UPSTREAM, upstream_key(V201, "NotifyEvent"), v201.notify_event.handle),
    Route(UPSTREAM, upstream_key(V201, "NotifyReport"), v201.notify_report.handle),
    # Reports that follow the CSMS's 2.0.1 commands: kept in the message log.
    *(
        Route(UPSTREAM, upstream_key(V201, action), v201.notifications.handle)
        for action in v201.notifications.ACTIONS
    ),
    # Gateway housekeeping: not OCPP frames, so no message-log rows of their own
    # (frame_log writes the ocpp_message rows itself).
    Route(UPSTREAM, GATEWAY_CONNECTED, gateway_events.connected, log_message=False),
    Route(UPSTREAM, GATEWAY_DISCONNECTED, gateway_events.disconnected, log_message=False),
    Route(UPSTREAM, GATEWAY_FRAME_LOG, gateway_events.frame_log, log_message=False),
    # Effects of central-system commands (ChangeAvailability, configuration, local list).
    *command_effects.ROUTES,
]

ROUTER = Router(ROUTES, before_batch=lock_batch)
"""Every batch takes its row locks first, in one global order (locking.py)."""
