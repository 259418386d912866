"""`max_active_transactions` of id tags: the default for new tags comes from
CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS (here 2); an explicit null is unlimited."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shared.settings import Settings

from .conftest import Actor, make_settings
from .helpers import assert_error


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    """This module's API runs with a default limit of 2 open transactions per new tag."""
    return make_settings(db_url, tmp_path / "media").model_copy(
        update={"default_max_active_transactions": 2}
    )


async def test_new_tags_get_the_default_limit_unless_given(
    client: httpx.AsyncClient, operator: Actor
) -> None:
    r = await client.post("/api/v1/idtags", json={"id_token": "D"}, headers=operator.headers)
    assert r.status_code == 201, r.text
    assert r.json()["max_active_transactions"] == 2
    r = await client.post(
        "/api/v1/idtags",
        json={"id_token": "U", "max_active_transactions": None},
        headers=operator.headers,
    )
    assert r.json()["max_active_transactions"] is None
    r = await client.post(
        "/api/v1/idtags",
        json={"id_token": "ONE", "max_active_transactions": 1},
        headers=operator.headers,
    )
    assert r.json()["max_active_transactions"] == 1


async def test_the_limit_can_be_changed_and_must_be_positive(
    client: httpx.AsyncClient, operator: Actor
) -> None:
    await client.post("/api/v1/idtags", json={"id_token": "T"}, headers=operator.headers)
    r = await client.patch(
        "/api/v1/idtags/T", json={"max_active_transactions": 5}, headers=operator.headers
    )
    assert r.json()["max_active_transactions"] == 5
    r = await client.patch(
        "/api/v1/idtags/T", json={"max_active_transactions": None}, headers=operator.headers
    )
    assert r.json()["max_active_transactions"] is None
    bad = await client.patch(
        "/api/v1/idtags/T", json={"max_active_transactions": 0}, headers=operator.headers
    )
    assert_error(bad, 422, field="max_active_transactions")
