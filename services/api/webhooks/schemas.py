"""Webhook endpoints and their delivery log."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, field_validator

from services.api.common import ApiModel, ReadModel, SafeStr, UtcDateTime
from shared.events.catalogue import valid_subscription

Url = Annotated[
    SafeStr,
    Field(
        min_length=8,
        max_length=2000,
        description="http(s) URL the events are POSTed to; loopback, private and link-local "
        "targets are refused unless CSMS_WEBHOOKS_ALLOW_PRIVATE_TARGETS is set.",
    ),
]
EventTypes = Annotated[
    list[Annotated[SafeStr, Field(min_length=1, max_length=64)]],
    Field(
        max_length=100,
        description="Event types (docs/events.md), `family.*`, or `*` (every type but the "
        "opt-in ones, e.g. meter_values).",
    ),
]
ChargepointIds = Annotated[
    list[Annotated[SafeStr, Field(min_length=1, max_length=255)]],
    Field(max_length=1000, description="Only events of these charge points (empty: all)."),
]
LocationIds = Annotated[
    list[UUID], Field(max_length=1000, description="Only events of these locations (empty: all).")
]


def _check_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = [t for t in value if not valid_subscription(t)]
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}")
    return value


class WebhookCreate(ApiModel):
    """A new webhook endpoint; its signing secret is in the answer, once."""

    url: Url
    description: Annotated[SafeStr, Field(max_length=1000)] | None = None
    event_types: EventTypes = Field(default_factory=lambda: ["*"])
    location_ids: LocationIds = Field(default_factory=list)
    chargepoint_ids: ChargepointIds = Field(default_factory=list)
    active: bool = True

    _types = field_validator("event_types")(_check_types)


class WebhookUpdate(ApiModel):
    """Changes to an endpoint; `active: true` re-enables a disabled one (streak reset)."""

    url: Url | None = None
    description: Annotated[SafeStr, Field(max_length=1000)] | None = None
    event_types: EventTypes | None = None
    location_ids: LocationIds | None = None
    chargepoint_ids: ChargepointIds | None = None
    active: bool | None = None

    _types = field_validator("event_types")(_check_types)


class WebhookRead(ReadModel):
    """A webhook endpoint (without its secret)."""

    id: UUID
    url: str
    description: str | None
    event_types: list[str]
    location_ids: list[str]
    chargepoint_ids: list[str]
    active: bool
    failure_streak: int
    disabled_at: UtcDateTime | None
    disabled_reason: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class WebhookCreated(WebhookRead):
    """The created endpoint with its secret: store it now, it is not shown again."""

    secret: str = Field(
        description="HMAC-SHA256 key of the X-CSMS-Signature header (docs/events.md)."
    )


class DeliveryRead(ReadModel):
    """One event for one endpoint: attempts so far and how the last one went."""

    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    chargepoint_id: str | None = Field(validation_alias="lane")
    seq: int
    status: str = Field(description="pending, delivered or dead.")
    attempts: int
    next_attempt_at: UtcDateTime
    last_status_code: int | None
    last_latency_ms: float | None
    last_error: str | None
    last_attempt_at: UtcDateTime | None
    delivered_at: UtcDateTime | None
    created_at: UtcDateTime
    body: dict[str, Any] = Field(description="The event as delivered.")

    @field_validator("chargepoint_id", mode="before")
    @classmethod
    def _lane(cls, value: Any) -> Any:
        return value or None


class DeadLetterRead(ReadModel):
    """A delivery that stayed undelivered through its retry window, waiting for a replay."""

    id: UUID
    endpoint_id: UUID
    delivery_id: UUID = Field(description="The delivery log row that died (pruned later).")
    event_id: UUID
    event_type: str
    chargepoint_id: str | None = Field(validation_alias="lane")
    seq: int
    attempts: int = Field(description="Attempts made before it was given up.")
    last_status_code: int | None
    last_error: str | None
    dead_at: UtcDateTime
    replayed_at: UtcDateTime | None = Field(
        description="When it was last replayed (null: waiting in the queue)."
    )
    replay_count: int
    body: dict[str, Any] = Field(description="The event.")

    @field_validator("chargepoint_id", mode="before")
    @classmethod
    def _lane(cls, value: Any) -> Any:
        return value or None


class DeadLetterReplay(ApiModel):
    """Which dead letters to replay: the given ones, or every one still waiting."""

    ids: Annotated[list[UUID], Field(max_length=1000)] | None = Field(
        None,
        description="Dead letters of this endpoint to replay (replayed ones too); omitted: "
        "every waiting one.",
    )


class DeadLetterReplayed(ReadModel):
    """How many dead letters went back to the delivery queue."""

    replayed: int
