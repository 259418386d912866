"""Heartbeat (OCPP 2.0.1 G02): recorded exactly like 1.6; the gateway answered currentTime."""

from __future__ import annotations

from services.registry.heartbeats import record_heartbeat

handle = record_heartbeat
