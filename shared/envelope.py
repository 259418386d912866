"""The one message model on the broker: calls, results, errors and domain events."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

ENVELOPE_VERSION = 1
MESSAGE_KEY_BYTES = 16
"""A message key is a blake2b digest of this many bytes: 32 hex characters."""


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
    # Who raised an ERROR: "chargepoint" (its CALLERROR) or "gateway" (its own refusal).
    error_source: str | None = None
    # The idempotency key of what the CALL says, not of the frame it came in: set by the
    # gateway on MeterValues (`content_key`), so a retry as a new CALL stores nothing twice.
    content_key: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    def to_bytes(self) -> bytes:
        """Serialise for the broker (pydantic's serializer straight to JSON bytes: the same
        bytes as orjson over `model_dump(mode="json")`, without the intermediate dict)."""
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

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
        self,
        code: str,
        description: str = "",
        details: dict[str, Any] | None = None,
        *,
        source: str | None = None,
    ) -> Envelope:
        """The ERROR answering this CALL, with an OCPP error code (and who raised it)."""
        return self.model_copy(
            update={
                "kind": Kind.ERROR,
                "payload": {},
                "error_code": code,
                "error_description": description,
                "error_details": details or {},
                "error_source": source,
                "created_at": utcnow(),
            }
        )


def message_key(
    chargepoint_id: str, unique_id: str, action: str, payload: Mapping[str, Any]
) -> str:
    """The idempotency key of an upstream CALL: what the charge point sent, and nothing else.

    32 hex characters: blake2b (16 bytes) of `[chargepoint id, unique id, action]` (a JSON
    array, so the parts cannot run into each other) followed by the payload serialised
    canonically (`canonical_payload`). A CALL the charge point resends (same unique id, same
    payload: a real resend is byte for byte the same message) has the same key whatever the
    connection or gateway process it arrives on; a charger that restarts its unique-id
    counter after a reboot sends other payloads (timestamps, values) under the old ids, and
    those get other keys. The gateway sets it as the envelope's `correlation_id`.
    """
    return message_key_from_canonical(chargepoint_id, unique_id, action, canonical_payload(payload))


def canonical_payload(payload: Mapping[str, Any]) -> bytes:
    """A payload serialised canonically: orjson, keys sorted (what `message_key` hashes)."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def message_key_from_canonical(
    chargepoint_id: str, unique_id: str, action: str, canonical: bytes
) -> str:
    """`message_key` of a payload already serialised by `canonical_payload` (the gateway
    serialises every CALL's payload once, when it parses the frame)."""
    digest = hashlib.blake2b(
        orjson.dumps([chargepoint_id, unique_id, action]), digest_size=MESSAGE_KEY_BYTES
    )
    digest.update(canonical)
    return digest.hexdigest()


def content_key(chargepoint_id: str, action: str, canonical: bytes) -> str:
    """The key of a CALL's content (`message_key` with no unique id), from its payload
    serialised by `canonical_payload`: the same for a resend, a retry as a new CALL (new
    unique id, same payload) and a redelivery. The gateway computes it once per MeterValues
    from the bytes it already serialised for the message key (`Envelope.content_key`)."""
    return message_key_from_canonical(chargepoint_id, "", action, canonical)


def event(action: str, payload: dict[str, Any], chargepoint_id: str | None = None) -> Envelope:
    """A domain event (`transaction.started`, ...) for `csms.events`."""
    return Envelope(
        kind=Kind.EVENT,
        action=action,
        payload=payload,
        chargepoint_id=chargepoint_id,
        unique_id=str(uuid.uuid4()),
    )
