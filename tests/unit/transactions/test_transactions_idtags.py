"""The authorization decision: one test per outcome, precedence, and the optional fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.transactions.idtags import TagRecord, decide

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def tag(
    *,
    revoked: bool = False,
    expiry_date: datetime | None = None,
    parent: str | None = None,
    limit: int | None = None,
) -> TagRecord:
    return TagRecord(
        id_token="TAG",
        revoked=revoked,
        expiry_date=expiry_date,
        parent_id_tag=parent,
        max_active_transactions=limit,
    )


def test_unknown_tag_is_invalid_without_details() -> None:
    assert decide(None, now=NOW) == {"status": "Invalid"}


def test_known_tag_is_accepted() -> None:
    assert decide(tag(), now=NOW) == {"status": "Accepted"}


def test_revoked_tag_is_blocked() -> None:
    assert decide(tag(revoked=True), now=NOW)["status"] == "Blocked"


def test_past_expiry_is_expired_and_reports_the_date() -> None:
    expired = tag(expiry_date=NOW - timedelta(seconds=1))
    info = decide(expired, now=NOW)
    assert info == {"status": "Expired", "expiryDate": "2025-03-01T11:59:59.000Z"}


def test_expiry_exactly_now_is_expired() -> None:
    assert decide(tag(expiry_date=NOW), now=NOW)["status"] == ("Expired")


def test_future_expiry_is_accepted_with_the_date() -> None:
    info = decide(tag(expiry_date=NOW + timedelta(days=1)), now=NOW)
    assert info == {"status": "Accepted", "expiryDate": "2025-03-02T12:00:00.000Z"}


def test_a_tag_without_a_limit_is_never_concurrent() -> None:
    """NULL max_active_transactions = unlimited (what the OCA conformance cases expect)."""
    assert decide(tag(), now=NOW, open_transactions=50)["status"] == "Accepted"


@pytest.mark.parametrize(
    ("limit", "open_transactions", "status"),
    [(1, 0, "Accepted"), (1, 1, "ConcurrentTx"), (2, 1, "Accepted"), (2, 2, "ConcurrentTx")],
)
def test_the_limit_counts_the_other_open_transactions(
    limit: int, open_transactions: int, status: str
) -> None:
    info = decide(tag(limit=limit), now=NOW, open_transactions=open_transactions)
    assert info["status"] == status


def test_parent_id_tag_is_included() -> None:
    info = decide(tag(parent="GROUP"), now=NOW)
    assert info == {"status": "Accepted", "parentIdTag": "GROUP"}


@pytest.mark.parametrize(
    ("revoked", "expired", "active", "status"),
    [
        (True, True, True, "Blocked"),
        (False, True, True, "Expired"),
        (False, False, True, "ConcurrentTx"),
    ],
)
def test_precedence(revoked: bool, expired: bool, active: bool, status: str) -> None:
    expiry = NOW - timedelta(days=1) if expired else None
    info = decide(
        tag(revoked=revoked, expiry_date=expiry, limit=1),
        now=NOW,
        open_transactions=1 if active else 0,
    )
    assert info["status"] == status


def test_201_token_type_must_match_a_typed_tag() -> None:
    typed = TagRecord("T", revoked=False, expiry_date=None, parent_id_tag=None, token_type="eMAID")
    assert decide(typed, now=NOW, token_type="ISO14443")["status"] == "Invalid"
    assert decide(typed, now=NOW, token_type="eMAID")["status"] == "Accepted"
    assert decide(typed, now=NOW)["status"] == "Accepted"  # 1.6: no type
    untyped = TagRecord("U", revoked=False, expiry_date=None, parent_id_tag=None)
    assert decide(untyped, now=NOW, token_type="KeyCode")["status"] == "Accepted"
    assert decide(None, now=NOW, token_type="NoAuthorization")["status"] == "Accepted"


def test_master_pass_is_never_concurrent_and_its_group_is_returned() -> None:
    member = TagRecord(
        "M", False, None, parent_id_tag="MP", max_active_transactions=1, master_pass=True
    )
    info = decide(member, now=NOW, open_transactions=5)
    assert info == {"status": "Accepted", "parentIdTag": "MP"}
    group = TagRecord("MP", False, None, parent_id_tag=None, master_pass=True)
    assert decide(group, now=NOW)["parentIdTag"] == "MP"
