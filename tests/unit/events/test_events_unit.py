"""Pure parts of the public events: catalogue, subscriptions, projection, signatures, the SSRF
guard, back-off, cursors, the AsyncAPI document and docs/events.md."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.webhooks import signing
from services.webhooks.delivery import backoff
from shared.envelope import event
from shared.events.asyncapi import asyncapi_document
from shared.events.catalogue import CATALOGUE, matches, valid_subscription
from shared.events.projection import public_events, split
from shared.events.store import Cursor, parse_cursor
from shared.ssrf import TargetRefused, check_target, is_public

DOCS = Path(__file__).resolve().parents[3] / "docs" / "events.md"


def test_docs_list_every_event_type_with_an_example() -> None:
    text = DOCS.read_text()
    for name in CATALOGUE:
        assert f"### `{name}`" in text, name
        assert f'"type": "{name}"' in text, name


def test_the_asyncapi_document_has_a_message_per_type_with_its_schema() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"].startswith("2.")
    messages = doc["components"]["messages"]
    assert {m["name"] for m in messages.values()} == set(CATALOGUE)
    for message in messages.values():
        ref = message["payload"]["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][ref]
        assert schema["properties"]["type"]["const"] == message["name"]
        assert set(schema["required"]) >= {"id", "type", "occurred_at", "seq", "data"}


def test_subscriptions_match_types_families_and_everything_but_opt_in() -> None:
    assert matches(["*"], "transaction.started")
    assert matches([], "connector.status_changed")
    assert not matches(["*"], "meter_values")
    assert matches(["*", "meter_values"], "meter_values")
    assert matches(["transaction.*"], "transaction.ended")
    assert not matches(["transaction.*"], "reservation.used")
    assert valid_subscription("reservation.*") and valid_subscription("*")
    assert not valid_subscription("nope") and not valid_subscription("nope.*")


def test_repeated_starts_and_stops_are_not_public_events() -> None:
    started = {"transaction_id": 1, "repeated": True}
    assert public_events(event("transaction.started", started, "CP")) == []
    stopped = {"transaction_id": 1, "outcome": "repeated"}
    assert public_events(event("transaction.stopped", stopped, "CP")) == []
    [ended] = public_events(
        event("transaction.stopped", {**stopped, "outcome": "closed", "closed_by": "csms"}, "CP")
    )
    assert ended.type == "transaction.ended" and ended.data["closed_by"] == "csms"


def test_split_keeps_internal_events_and_takes_public_only_ones_out() -> None:
    internal = event("connector.status_changed", {"connectorId": 1, "status": "Faulted"}, "CP")
    public_only = event(
        "public:authorization.refused", {"data": {"id_tag": "T"}, "id_tag": "T"}, "CP"
    )
    kept, public = split([internal, public_only])
    assert kept == [internal]
    assert [(p.type, p.id_tag) for p in public] == [
        ("connector.status_changed", None),
        ("authorization.refused", "T"),
    ]


def test_signatures_verify_and_refuse_changes_and_old_timestamps() -> None:
    secret = signing.new_secret()
    body = b'{"id": "x"}'
    now = int(time.time())
    header = signing.signature(secret, now, body)
    assert signing.verify(secret, str(now), body, header, now=now)
    assert not signing.verify(secret, str(now), body + b" ", header, now=now)
    assert not signing.verify("other", str(now), body, header, now=now)
    assert not signing.verify(secret, str(now), body, header, now=now + 301)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.5",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(address)


async def test_the_guard_refuses_bad_urls_and_allows_what_the_setting_allows() -> None:
    for url in ("ftp://example.com/", "http://user:pw@93.184.215.14/", "http:///x"):
        with pytest.raises(TargetRefused):
            await check_target(url, allow_private=True)
    with pytest.raises(TargetRefused):
        await check_target("http://127.0.0.1:8080/hook", allow_private=False)
    await check_target("http://127.0.0.1:8080/hook", allow_private=True)
    await check_target("https://93.184.215.14/hook", allow_private=False)


def test_backoff_doubles_up_to_its_maximum() -> None:
    assert [backoff(n, 10, 60) for n in range(1, 6)] == [10, 20, 40, 60, 60]


def test_cursors_parse_and_order() -> None:
    assert parse_cursor("12-34") == Cursor(12, 34)
    assert parse_cursor("garbage") is None and parse_cursor("1-99999999999999999999") is None
    assert Cursor(1, 99) < Cursor(2, 1)
    assert str(Cursor(5, 6)) == "5-6"
