"""SecurityEventNotification (1.6 security whitepaper): kept in the message log, announced."""

from __future__ import annotations

from services.registry.security_events import announce_security_event

handle = announce_security_event
