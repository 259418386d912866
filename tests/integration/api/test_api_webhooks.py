"""`/webhooks`: operators and admins manage endpoints; the SSRF guard; the secret shown once."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Actor

pytestmark = pytest.mark.integration


async def test_the_api_manages_webhooks_for_operators_only(
    client: httpx.AsyncClient, admin: Actor, operator: Actor, driver: Actor
) -> None:
    url = "https://hooks.example.com/csms"
    body = {"url": url, "event_types": ["transaction.*", "meter_values"]}
    r = await client.post("/api/v1/webhooks", json=body, headers=driver.headers)
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/webhooks", json={**body, "url": "http://127.0.0.1:9/x"}, headers=operator.headers
    )
    assert r.status_code == 422 and "private" in r.text  # SSRF guard (setting off)
    r = await client.post(
        "/api/v1/webhooks",
        json={**body, "url": "http://169.254.169.254/"},
        headers=operator.headers,
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/webhooks", json={**body, "url": "ftp://example.com/"}, headers=operator.headers
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/webhooks", json={**body, "event_types": ["no.such"]}, headers=operator.headers
    )
    assert r.status_code == 422
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
