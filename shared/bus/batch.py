"""Several envelopes in one broker message (issue 15): one publish and one confirm for many.

The gateway publishes the fire-and-forget CALLs of all its sockets that arrive while a
publish is in flight as one message per routing key (services/gateway/batching.py): a JSON
array of envelopes, content type `BATCH_CONTENT_TYPE`. A consumer (shared/bus/consumer.py)
unpacks it into one delivery per envelope, so handlers never see the difference; the broker
message is settled once all its envelopes are (acked if every one was handled or
dead-lettered, requeued whole if one must be retried: the others are idempotent, keyed by
their message keys). A dead-lettered envelope goes to `csms.dead-letter` alone, as a plain
envelope message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from shared.envelope import Envelope

BATCH_CONTENT_TYPE: Final = "application/vnd.csms.envelopes+json"
"""Content type of a message whose body is a JSON array of envelopes."""
ENVELOPE_CONTENT_TYPE: Final = "application/json"


def batch_body(envelopes: Sequence[Envelope]) -> bytes:
    """The body of a batch message: the envelopes' own JSON, in order, as one array."""
    return b"[" + b",".join(e.to_bytes() for e in envelopes) + b"]"


def split_batch(body: bytes) -> list[Any]:
    """The items of a batch body (each to be validated as an Envelope); raise ValueError if
    the body is not a JSON array."""
    items = orjson.loads(body)
    if not isinstance(items, list):
        raise ValueError("a batch message's body must be a JSON array of envelopes")
    return items
