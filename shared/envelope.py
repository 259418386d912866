"""The one message model on the broker: calls, results, errors and domain events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

ENVELOPE_VERSION = 1


class Kind(StrEnum):
    """What an envelope carries."""

    CALL = "call"
    RESULT = "result"
    ERROR = "error"
    EVENT = "event"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Envelope(BaseModel):
    """A message on the bus; the payload keeps OCPP's own (camelCase) field names."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: int = ENVELOPE_VERSION
    kind: Kind
    action: str
    payload: dict[str, Any] = Field(default_factory=dict)
    chargepoint_id: str | None = None
    ocpp_version: str | None = None
    unique_id: str | None = None
    correlation_id: str | None = None
    node_id: str | None = None
    error_code: str | None = None
    error_description: str | None = None
    error_details: dict[str, Any] | None = None
    created_at: datetime = Field(default_factory=utcnow)

    def to_bytes(self) -> bytes:
        """Serialise for the broker."""
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        """Parse what `to_bytes` wrote."""
        return cls.model_validate(orjson.loads(body))

    def result(self, payload: dict[str, Any]) -> Envelope:
        """The RESULT answering this CALL."""
        return self.model_copy(
            update={"kind": Kind.RESULT, "payload": payload, "created_at": utcnow()}
        )

    def error(
        self, code: str, description: str = "", details: dict[str, Any] | None = None
    ) -> Envelope:
        """The ERROR answering this CALL, with an OCPP error code."""
        return self.model_copy(
            update={
                "kind": Kind.ERROR,
                "payload": {},
                "error_code": code,
                "error_description": description,
                "error_details": details or {},
                "created_at": utcnow(),
            }
        )


def event(action: str, payload: dict[str, Any], chargepoint_id: str | None = None) -> Envelope:
    """A domain event (`transaction.started`, ...) for `csms.events`."""
    return Envelope(
        kind=Kind.EVENT,
        action=action,
        payload=payload,
        chargepoint_id=chargepoint_id,
        unique_id=str(uuid.uuid4()),
    )
