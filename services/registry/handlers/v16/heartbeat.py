"""Heartbeat (OCPP 1.6 §4.6): last_heartbeat moves forward, one heartbeat row per message."""

from __future__ import annotations

from services.registry.heartbeats import record_heartbeat

handle = record_heartbeat
