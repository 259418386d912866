"""The message key: the idempotency key of an upstream CALL (shared/envelope.py)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from shared.envelope import canonical_payload, message_key, message_key_from_canonical

PAYLOAD = {"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": "1"}]}]}


def test_is_32_hex_characters_and_stable() -> None:
    key = message_key("CP-1", "42", "MeterValues", PAYLOAD)
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    # Fixed by the definition (blake2b-128 of the id array and the canonical payload):
    # a change here changes every key already stored, i.e. breaks deduplication of resends.
    assert key == message_key("CP-1", "42", "MeterValues", dict(reversed(PAYLOAD.items())))
    assert key == message_key_from_canonical(
        "CP-1", "42", "MeterValues", canonical_payload(PAYLOAD)
    )


def test_every_part_counts() -> None:
    keys = {
        message_key("CP-1", "42", "MeterValues", PAYLOAD),
        message_key("CP-2", "42", "MeterValues", PAYLOAD),
        message_key("CP-1", "43", "MeterValues", PAYLOAD),
        message_key("CP-1", "42", "StatusNotification", PAYLOAD),
        message_key("CP-1", "42", "MeterValues", {**PAYLOAD, "connectorId": 2}),
    }
    assert len(keys) == 5


@given(st.text(max_size=8), st.text(max_size=8), st.text(max_size=8))
def test_the_parts_cannot_run_into_each_other(a: str, b: str, c: str) -> None:
    # "CP-1" + "2" must not be "CP-" + "12": the ids are hashed as a JSON array.
    if (a, b) != (a + b[:1], b[1:]):
        assert message_key(a, b, c, {}) != message_key(a + b[:1], b[1:], c, {})


def test_canonical_payload_sorts_keys_at_every_depth() -> None:
    assert canonical_payload({"b": {"d": 1, "c": [{"f": 1, "e": 2}]}, "a": 0}) == (
        b'{"a":0,"b":{"c":[{"e":2,"f":1}],"d":1}}'
    )
