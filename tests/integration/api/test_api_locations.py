"""`/locations`."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import Actor
from .factories import Factory
from .helpers import assert_error

MISSING = "00000000-0000-0000-0000-000000000000"


def location_body(**kw: Any) -> dict[str, Any]:
    """A valid POST /locations body."""
    return {
        "name": "Depot North",
        "type": "parking_garage",
        "street_address": "5 Harbour Road",
        "postal_code": "20457",
        "city": "Hamburg",
        "country": "DE",
    } | kw


async def test_location_crud(client: httpx.AsyncClient, operator: Actor) -> None:
    h = operator.headers
    r = await client.post(
        "/api/v1/locations",
        json=location_body(grid_limit=120.5, grid_limit_unit="A", balancing_strategy="equal"),
        headers=h,
    )
    assert r.status_code == 201, r.text
    loc = r.json()
    assert loc["name"] == "Depot North" and loc["type"] == "parking_garage"
    assert loc["grid_limit"] == 120.5 and loc["grid_limit_unit"] == "A"
    assert loc["chargepoints"] == []
    uid = loc["uuid"]
    r = await client.get("/api/v1/locations?city=Hamburg", headers=h)
    assert r.json()["total"] == 1 and r.json()["items"][0]["uuid"] == uid
    r = await client.get("/api/v1/locations?name=north", headers=h)
    assert r.json()["total"] == 1
    r = await client.get("/api/v1/locations?type=private", headers=h)
    assert r.json()["total"] == 0
    r = await client.patch(
        f"/api/v1/locations/{uid}", json={"city": "Bremen", "grid_limit": None}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["city"] == "Bremen" and r.json()["grid_limit"] is None
    r = await client.delete(f"/api/v1/locations/{uid}", headers=h)
    assert r.status_code == 204
    assert_error(await client.get(f"/api/v1/locations/{uid}", headers=h), 404, "not_found")


async def test_location_detail_lists_its_chargepoints(
    client: httpx.AsyncClient, driver: Actor, factory: Factory
) -> None:
    loc = await factory.location()
    cp = await factory.chargepoint(location_uuid=loc.uuid)
    await factory.chargepoint(location_uuid=loc.uuid, decommissioned_at=cp.last_heartbeat)
    r = await client.get(f"/api/v1/locations/{loc.uuid}", headers=driver.headers)
    assert r.status_code == 200
    assert [c["chargepoint_id"] for c in r.json()["chargepoints"]] == [cp.chargepoint_id]


async def test_location_with_chargepoints_cannot_be_deleted(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    loc = await factory.location()
    await factory.chargepoint(location_uuid=loc.uuid)
    r = await client.delete(f"/api/v1/locations/{loc.uuid}", headers=operator.headers)
    assert_error(r, 409, "conflict")


async def test_location_validation(client: httpx.AsyncClient, operator: Actor) -> None:
    h = operator.headers
    r = await client.post("/api/v1/locations", json=location_body(type="moon"), headers=h)
    assert_error(r, 422, field="type")
    r = await client.post("/api/v1/locations", json=location_body(city="x" * 21), headers=h)
    assert_error(r, 422, field="city")
    body = location_body()
    del body["name"]
    assert_error(await client.post("/api/v1/locations", json=body, headers=h), 422, field="name")
    r = await client.post("/api/v1/locations", json=location_body(grid_limit=10), headers=h)
    assert_error(r, 422, field="grid_limit_unit")
    r = await client.post(
        "/api/v1/locations", json=location_body(grid_limit=-1, grid_limit_unit="W"), headers=h
    )
    assert_error(r, 422, field="grid_limit")
    r = await client.post("/api/v1/locations", json=location_body(name="a\x00b"), headers=h)
    assert_error(r, 422, field="name")
    r = await client.patch(f"/api/v1/locations/{MISSING}", json={"name": None}, headers=h)
    assert_error(r, 422)
    assert_error(await client.get("/api/v1/locations/nope", headers=h), 422, field="location_id")


async def test_location_not_found(client: httpx.AsyncClient, operator: Actor) -> None:
    h = operator.headers
    assert_error(await client.get(f"/api/v1/locations/{MISSING}", headers=h), 404)
    r = await client.patch(f"/api/v1/locations/{MISSING}", json={"city": "X"}, headers=h)
    assert_error(r, 404)
    assert_error(await client.delete(f"/api/v1/locations/{MISSING}", headers=h), 404)


async def test_drivers_read_but_do_not_write_locations(
    client: httpx.AsyncClient, driver: Actor, factory: Factory
) -> None:
    loc = await factory.location()
    h = driver.headers
    assert (await client.get("/api/v1/locations", headers=h)).status_code == 200
    assert_error(await client.post("/api/v1/locations", json=location_body(), headers=h), 403)
    r = await client.patch(f"/api/v1/locations/{loc.uuid}", json={"city": "X"}, headers=h)
    assert_error(r, 403)
    assert_error(await client.delete(f"/api/v1/locations/{loc.uuid}", headers=h), 403)
