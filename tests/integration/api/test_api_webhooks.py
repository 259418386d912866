"""`/webhooks`: operators and admins manage endpoints; the SSRF guard; the secret shown once."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Sql

from .conftest import Actor
from .factories import Factory

pytestmark = pytest.mark.integration


BODY = {"url": "https://hooks.example.com/csms", "event_types": ["transaction.*", "meter_values"]}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"url": "http://127.0.0.1:9/x"}, "private"),  # SSRF guard (setting off)
        ({"url": "http://169.254.169.254/"}, "link-local"),  # cloud metadata
        ({"url": "ftp://example.com/"}, "url"),
        ({"event_types": ["no.such"]}, "no.such"),
    ],
    ids=["loopback", "metadata", "not-http", "unknown-type"],
)
async def test_an_endpoint_is_refused(
    client: httpx.AsyncClient, operator: Actor, change: dict[str, object], says: str
) -> None:
    r = await client.post("/api/v1/webhooks", json={**BODY, **change}, headers=operator.headers)
    assert r.status_code == 422 and says in r.text, r.text
    listing = (await client.get("/api/v1/webhooks", headers=operator.headers)).json()
    assert listing["total"] == 0


async def test_the_api_manages_webhooks_for_operators_only(
    client: httpx.AsyncClient, admin: Actor, operator: Actor, driver: Actor
) -> None:
    body = BODY
    r = await client.post("/api/v1/webhooks", json=body, headers=driver.headers)
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/webhooks",
        json={**body, "url": "http://93.184.215.14/hook"},
        headers=operator.headers,
    )
    assert r.status_code == 201, r.text
    hook = r.json()
    r = await client.patch(
        f"/api/v1/webhooks/{hook['id']}",
        json={"active": False, "chargepoint_ids": ["CP-1"]},
        headers=admin.headers,
    )
    assert r.status_code == 200
    assert r.json()["active"] is False and r.json()["chargepoint_ids"] == ["CP-1"]
    listing = (await client.get("/api/v1/webhooks", headers=operator.headers)).json()
    assert [h["id"] for h in listing["items"]] == [hook["id"]]
    assert all("secret" not in h for h in listing["items"])
    r = await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=operator.headers)
    assert r.status_code == 204
    r = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=operator.headers)
    assert r.status_code == 404


async def test_a_registration_change_is_an_event(
    client: httpx.AsyncClient, operator: Actor, factory: Factory, sql: Sql
) -> None:
    cp = await factory.chargepoint(registration_status="Pending")
    url = f"/api/v1/chargepoints/{cp.chargepoint_id}"
    r = await client.patch(url, json={"registration_status": "Accepted"}, headers=operator.headers)
    assert r.status_code == 200, r.text
    r = await client.patch(url, json={"registration_status": "Accepted"}, headers=operator.headers)
    assert r.status_code == 200  # unchanged: no event
    r = await client.delete(url, headers=operator.headers)
    assert r.status_code == 204, r.text
    rows = await sql(
        "select type, seq, data from event_outbox where chargepoint_id = :cp order by seq",
        cp=cp.chargepoint_id,
    )
    assert [(r["type"], r["seq"], r["data"]["registration_status"]) for r in rows] == [
        ("chargepoint.registration_changed", 1, "Accepted"),
        ("chargepoint.registration_changed", 2, "Rejected"),
    ]
    assert rows[0]["data"]["previous_registration_status"] == "Pending"
