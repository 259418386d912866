"""Typed broker errors: what a publisher sees and what a handler raises to dead-letter."""

from __future__ import annotations


class BusError(Exception):
    """Base of every error the bus raises."""


class NotConnected(BusError):
    """The bus is not connected (before `connect()`, after `close()`)."""


class PublishFailed(BusError):
    """The broker nacked the message, did not confirm it in time, or the channel failed."""


class Unroutable(BusError):
    """A `mandatory` message matched no queue (downstream: the charge point is not connected)."""

    def __init__(self, exchange: str, routing_key: str) -> None:
        super().__init__(f"no queue bound to {exchange!r} with key {routing_key!r}")
        self.exchange = exchange
        self.routing_key = routing_key


class RpcTimeout(BusError):
    """No reply arrived within the RPC timeout."""


class InvalidEnvelope(BusError):
    """A message body is not a valid Envelope; it goes to the dead-letter queue at once."""


class Reject(Exception):
    """Raised by a handler: dead-letter this message at once, do not retry it.

    `detail` says why in words; `reason` is the dead letter's machine-readable
    `x-csms-death-reason` (shared/bus/deadletter.py).
    """

    def __init__(self, detail: str, *, reason: str = "handler-refused") -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


class Retry(Exception):
    """Raised by a handler: it could not run for a reason outside the messages (the database
    is unreachable, a deadlock). The consumer keeps the batch unacked and runs it again after
    a pause, so an outage does not use up the messages' delivery limit and dead-letter them."""
