"""SecurityEventNotification (OCPP 2.0.1 A04): kept in the message log, announced (as 1.6)."""

from __future__ import annotations

from services.registry.security_events import announce_security_event

handle = announce_security_event
