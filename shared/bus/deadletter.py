"""Why a message died: the headers a dead letter carries and the reasons they name.

A consumer that gives up on a message does not `reject(requeue=False)` it (a reject cannot
add headers): it publishes the message, body and properties unchanged, to `csms.dead-letter`
with publisher confirms and these headers, then acks the original. Only if that publish fails
does it fall back to a reject, and the broker dead-letters it with `x-death` reason
`rejected`. Messages the broker dead-letters itself (delivery limit, expired RPC requests)
carry `x-death` only (reason `delivery_limit` / `expired`). docs/internals.md lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEATH_REASON: Final = "x-csms-death-reason"
"""Header: why the message died, short and machine-readable (one of the reasons below)."""
DEATH_DETAIL: Final = "x-csms-death-detail"
"""Header: the reason in words (the exception, the handler's refusal), at most MAX_DETAIL."""
ORIGINAL_QUEUE: Final = "x-csms-original-queue"
"""Header: the queue the message was consumed from."""
ORIGINAL_ROUTING_KEY: Final = "x-csms-original-routing-key"
"""Header: the routing key it was published with (also kept as its routing key)."""
ORIGINAL_EXPIRATION: Final = "x-csms-original-expiration"
"""Header: its `expiration` property (ms), which is removed so it does not expire in the
dead-letter queue (as the broker does when it dead-letters)."""

POISON: Final = "poison"
"""The handler failed on it alone on every attempt (the last one reached the delivery limit)."""
INVALID_ENVELOPE: Final = "invalid-envelope"
"""The body is not an Envelope; no handler saw it."""
DATA_ERROR: Final = "data-error"
"""Postgres refused its data (SQLSTATE class 22: NUL in text, number out of range, ...)."""
HANDLER_REFUSED: Final = "handler-refused"
"""A handler refused it (`Reject` / `Rejected`, or an error answer nobody waits for: a
fire-and-forget message the gateway already answered)."""

INVALID_PAYLOAD: Final = "invalid-payload"
"""Its payload does not fit its route's request model, and no charge point waits for an
answer (an event, a gateway or command message): refused before any handler ran."""

CONSUMER_REASONS: Final = (POISON, INVALID_ENVELOPE, DATA_ERROR, HANDLER_REFUSED, INVALID_PAYLOAD)
"""Every `x-csms-death-reason` a consumer writes."""
BROKER_REASONS: Final = ("delivery_limit", "expired", "rejected")
"""The `x-death` reasons of messages the broker dead-lettered itself."""

MAX_DETAIL: Final = 1000
"""Characters of `x-csms-death-detail` at most."""


def bounded(text: str, limit: int = MAX_DETAIL) -> str:
    """`text` cut to `limit` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class DeathNote:
    """Why one message is dead-lettered, and where it came from."""

    reason: str
    detail: str
    queue: str

    def headers(self, routing_key: str) -> dict[str, str]:
        """The `x-csms-*` headers of the dead letter."""
        return {
            DEATH_REASON: self.reason,
            DEATH_DETAIL: bounded(self.detail),
            ORIGINAL_QUEUE: self.queue,
            ORIGINAL_ROUTING_KEY: routing_key,
        }
