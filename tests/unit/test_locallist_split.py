"""A local list longer than a station takes per message is split (services/api/locallist)."""

from __future__ import annotations

from services.api.locallist.service import Entry, Plan, split


def entries(n: int) -> list[Entry]:
    return [Entry(f"T{i}", None, {"status": "Accepted"}) for i in range(n)]


def test_full_list_goes_as_a_full_then_differentials() -> None:
    parts = split(Plan(5, entries(5)), "Full", 2)
    assert [(kind, p.version, len(p.entries)) for kind, p in parts] == [
        ("Full", 5, 2),
        ("Differential", 6, 2),
        ("Differential", 7, 1),
    ]
    assert [e.id_token for _, p in parts for e in p.entries] == [f"T{i}" for i in range(5)]


def test_short_or_unlimited_list_is_one_message() -> None:
    plan = Plan(1, entries(2))
    assert split(plan, "Differential", 2) == [("Differential", plan)]
    assert split(plan, "Full", None) == [("Full", plan)]
