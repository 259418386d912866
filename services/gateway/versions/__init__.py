"""The protocol versions the gateway speaks, keyed by websocket subprotocol."""

from __future__ import annotations

from services.gateway.versions.base import ProtocolVersion
from services.gateway.versions.v16 import V16
from services.gateway.versions.v201 import V201

VERSIONS: dict[str, ProtocolVersion] = {v.name: v for v in (V16, V201)}
"""Subprotocol -> version, in our order of preference."""

__all__ = ["VERSIONS", "ProtocolVersion"]
