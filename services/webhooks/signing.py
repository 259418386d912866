"""Webhook signatures (docs/events.md, "Verifying a delivery").

A delivery carries `X-CSMS-Timestamp` (unix seconds) and `X-CSMS-Signature: v1=<hex>`, the
HMAC-SHA256 with the endpoint's secret of `<timestamp>.<body>` (the raw body bytes). A
receiver recomputes it, compares in constant time and refuses old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

SIGNATURE_HEADER: Final = "X-CSMS-Signature"
TIMESTAMP_HEADER: Final = "X-CSMS-Timestamp"
EVENT_ID_HEADER: Final = "X-CSMS-Event-Id"
EVENT_TYPE_HEADER: Final = "X-CSMS-Event-Type"
DELIVERY_ID_HEADER: Final = "X-CSMS-Delivery-Id"
SECRET_PREFIX: Final = "whsec_"


def new_secret() -> str:
    """A fresh endpoint secret (shown once, at creation)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-CSMS-Signature` value of a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, header: str, *, now: int, tolerance: int = 300
) -> bool:
    """Whether `header` signs `body` at `timestamp`, no older than `tolerance` seconds."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, ts, body), header)
