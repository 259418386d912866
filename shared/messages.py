"""Request models of the messages on the bus that are not a charge point's OCPP CALL.

The services' route tables (shared/dispatch.Route) parse every payload into a model before
the handler runs: OCPP CALLs into the generated models (shared/ocpp), everything else into
these: the gateway's housekeeping, the domain events other services consume, the API's
requests to the charging service, the command-effect nudges. The fields are what the
consumers read (unknown fields are ignored); payloads keep the publisher's key spelling
(snake_case from the gateway and the outbox, camelCase in the registry's events). A payload
that does not fit is dead-lettered (`invalid-payload`): none of these comes from a charge
point, so a misfit is a bug of the publisher, never something to answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from shared.ocpp.types import AwareDatetime


class Message(BaseModel):
    """Base of the bus's own request models: frozen, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class NoFields(Message):
    """A message whose handler reads nothing of the payload (the envelope says it all:
    `chargepoint.booted` for the transactions service, the events the charging service
    rebalances on)."""


class ChargePointBooted(Message):
    """`chargepoint.booted` (the registry's own event after a BootNotification it answered):
    what the registry's first-boot base report reads of it."""

    status: StrictStr
    ocpp_version: Annotated[StrictStr | None, Field(alias="ocppVersion")] = None


# ------------------------------------------------------------------ gateway -> registry


class GatewayAuthenticate(Message):
    """`gateway.authenticate` (RPC): may this charge point open its websocket?"""

    presented: StrictBool
    """It presented HTTP Basic credentials (the password never leaves the gateway)."""
    remote_ip: StrictStr | None = None
    security_profile: Annotated[StrictInt, Field(ge=0, le=3)] | None = None
    """The profile the connection presents (3 verified client certificate, 2 TLS +
    credentials, 1 credentials, 0 nothing); absent from gateways from before profiles."""


class GatewaySecurityEvent(Message):
    """`gateway.security_event`: a refusal the gateway decided itself (a client certificate:
    services/gateway/security_events.py), stored as a CSMS security event."""

    type: Annotated[StrictStr, Field(max_length=50)]
    tech_info: StrictStr | None = None
    remote_ip: Annotated[StrictStr, Field(max_length=45)] | None = None
    occurred_at: AwareDatetime


class GatewayConnection(Message):
    """`gateway.connected` / `gateway.disconnected`: the socket, as the gateway names it."""

    remote_ip: StrictStr | None = None
    remote_port: StrictInt | None = None
    node_id: StrictStr | None = None
    subprotocol: StrictStr | None = None
    connection_id: StrictStr | None = None
    connected_at: AwareDatetime | None = None
    """When the socket opened (absent from gateways older than migration 0002)."""
    security_profile: StrictInt | None = None
    """`gateway.connected`: the profile the connection presented (applies a pending upgrade)."""
    new_password: StrictStr | None = None
    """`gateway.connected`: the SHA-256 of the pending password hash the charge point
    authenticated with (completes a password rotation)."""


class GatewayFrameLog(Message):
    """`gateway.frame_log`: a frame the gateway answered (or dropped) itself."""

    direction: StrictStr | None = None
    action: StrictStr | None = None
    frame: StrictStr | None = None
    truncated: StrictBool = False
    error_code: StrictStr | None = None
    error_description: StrictStr | None = None
    answer: StrictStr | None = None


class GatewayHeartbeat(Message):
    """One charge point's newest heartbeat in a `gateway.heartbeats` flush."""

    chargepoint_id: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    at: AwareDatetime
    """When the gateway received (and answered) it."""
    ocpp_version: StrictStr | None = None
    unique_id: StrictStr | None = None
    message_id: Annotated[StrictStr, Field(max_length=64)] | None = None
    """Its message key (`shared.envelope.message_key`): the `heartbeat` row's, so a resent
    heartbeat is stored once."""


class GatewayHeartbeats(Message):
    """`gateway.heartbeats`: the newest heartbeat per charge point since the gateway's last
    flush (services/gateway/heartbeats.py)."""

    heartbeats: list[GatewayHeartbeat]


# ------------------------------------------------------------------ domain events


class ConnectorStatusChanged(Message):
    """`connector.status_changed` (the registry): a connector's applied status."""

    connector_id: Annotated[StrictInt, Field(alias="connectorId")]
    status: StrictStr
    timestamp: AwareDatetime | None = None
    """The time the status applies from (the report's, or its receipt)."""

    def reported_at(self, fallback: datetime) -> datetime:
        """The status's time, else `fallback`."""
        return self.timestamp if self.timestamp is not None else fallback


# ------------------------------------------------------------------ API -> charging


class ProfileRequest(Message):
    """`charging.install_profile` / `charging.clear_profile` (RPC): a stored profile's id."""

    chargingprofile_id: StrictInt


# ------------------------------------------------------------------ command outbox


class CommandNudge(Message):
    """`command.completed` / `command.effects_due`: a charge point has outcomes to apply.

    Only the charge point is read: the effects come from the committed command log.
    """

    chargepoint_id: StrictStr | None = None


# ------------------------------------------------------------------ event outbox -> webhooks


class PublicEventMessage(Message):
    """`public.v1.<type>` (the event outbox's relay): one public event, as third parties get
    it (shared/events/catalogue.Envelope). The fields the webhooks intake matches endpoints
    on are typed; the rest (`version`, `occurred_at`, `data`) is kept as it came, so
    `body()` is the event verbatim."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: UUID
    type: StrictStr
    chargepoint_id: StrictStr | None = None
    location_id: StrictStr | None = None
    seq: StrictInt = 0

    def body(self) -> dict[str, Any]:
        """The public event, as JSON (what the endpoints are sent)."""
        return self.model_dump(mode="json")
