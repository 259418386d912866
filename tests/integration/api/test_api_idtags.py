"""`/idtags`: operators manage them, drivers see their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from .conftest import Actor
from .factories import Factory
from .helpers import assert_error


async def test_idtag_crud(client: httpx.AsyncClient, operator: Actor, driver: Actor) -> None:
    h = operator.headers
    r = await client.post("/api/v1/idtags", json={"id_token": "PARENT01"}, headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/idtags",
        json={
            "id_token": "TAG0001",
            "expiry_date": "2999-01-01T00:00:00+02:00",
            "user_id": str(driver.id),
            "parent_id_tag": "PARENT01",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    tag = r.json()
    assert tag["expiry_date"] == "2998-12-31T22:00:00+00:00"
    assert tag["status"] == "Accepted" and tag["revoked"] is False
    assert tag["user_id"] == str(driver.id) and tag["parent_id_tag"] == "PARENT01"
    r = await client.get(f"/api/v1/idtags?user_id={driver.id}", headers=h)
    assert [t["id_token"] for t in r.json()["items"]] == ["TAG0001"]
    r = await client.patch("/api/v1/idtags/TAG0001", json={"revoked": True}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "Blocked"
    r = await client.get("/api/v1/idtags?revoked=true", headers=h)
    assert r.json()["total"] == 1
    r = await client.patch(
        "/api/v1/idtags/TAG0001", json={"user_id": None, "parent_id_tag": None}, headers=h
    )
    assert r.json()["user_id"] is None and r.json()["parent_id_tag"] is None
    assert (await client.delete("/api/v1/idtags/TAG0001", headers=h)).status_code == 204
    assert_error(await client.get("/api/v1/idtags/TAG0001", headers=h), 404, "not_found")


async def test_expired_status_and_filter(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    await factory.idtag("OLD", expiry_date=datetime.now(UTC) - timedelta(days=1))
    await factory.idtag("NEW", expiry_date=datetime.now(UTC) + timedelta(days=1))
    await factory.idtag("FOREVER")
    h = operator.headers
    r = await client.get("/api/v1/idtags/OLD", headers=h)
    assert r.json()["status"] == "Expired"
    r = await client.get("/api/v1/idtags?expired=true", headers=h)
    assert [t["id_token"] for t in r.json()["items"]] == ["OLD"]
    r = await client.get("/api/v1/idtags?expired=false", headers=h)
    assert [t["id_token"] for t in r.json()["items"]] == ["FOREVER", "NEW"]
    r = await client.get("/api/v1/idtags?q=ore", headers=h)
    assert [t["id_token"] for t in r.json()["items"]] == ["FOREVER"]


async def test_idtag_validation(client: httpx.AsyncClient, operator: Actor) -> None:
    h = operator.headers
    assert_error(await client.post("/api/v1/idtags", json={}, headers=h), 422, field="id_token")
    r = await client.post("/api/v1/idtags", json={"id_token": "x" * 256}, headers=h)
    assert_error(r, 422, field="id_token")
    r = await client.post(
        "/api/v1/idtags", json={"id_token": "A", "expiry_date": "tomorrow"}, headers=h
    )
    assert_error(r, 422, field="expiry_date")
    r = await client.post(
        "/api/v1/idtags", json={"id_token": "A", "expiry_date": 1700000000}, headers=h
    )
    assert_error(r, 422, field="expiry_date")
    r = await client.post(
        "/api/v1/idtags",
        json={"id_token": "A", "user_id": "00000000-0000-0000-0000-000000000000"},
        headers=h,
    )
    assert_error(r, 422, field="user_id")
    r = await client.post(
        "/api/v1/idtags", json={"id_token": "A", "parent_id_tag": "NOPE"}, headers=h
    )
    assert_error(r, 422, field="parent_id_tag")


async def test_idtag_parent_cycle_is_refused(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    await factory.idtag("A")
    await factory.idtag("B", parent_id_tag="A")
    r = await client.patch(
        "/api/v1/idtags/A", json={"parent_id_tag": "B"}, headers=operator.headers
    )
    assert_error(r, 422, field="parent_id_tag")
    r = await client.patch(
        "/api/v1/idtags/A", json={"parent_id_tag": "A"}, headers=operator.headers
    )
    assert_error(r, 422, field="parent_id_tag")


async def test_duplicate_idtag_is_409(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    await factory.idtag("DUP")
    r = await client.post("/api/v1/idtags", json={"id_token": "DUP"}, headers=operator.headers)
    assert_error(r, 409, "conflict")


async def test_idtag_not_found(client: httpx.AsyncClient, operator: Actor) -> None:
    h = operator.headers
    assert_error(await client.get("/api/v1/idtags/NONE", headers=h), 404)
    assert_error(await client.patch("/api/v1/idtags/NONE", json={"revoked": True}, headers=h), 404)
    assert_error(await client.delete("/api/v1/idtags/NONE", headers=h), 404)


async def test_driver_sees_only_own_tags_and_cannot_write(
    client: httpx.AsyncClient, driver: Actor, other_driver: Actor, factory: Factory
) -> None:
    await factory.idtag("MINE", user_id=driver.id)
    await factory.idtag("THEIRS", user_id=other_driver.id)
    await factory.idtag("NOBODYS")
    h = driver.headers
    r = await client.get("/api/v1/idtags", headers=h)
    assert [t["id_token"] for t in r.json()["items"]] == ["MINE"]
    r = await client.get(f"/api/v1/idtags?user_id={other_driver.id}", headers=h)
    assert r.json()["total"] == 0
    assert (await client.get("/api/v1/idtags/MINE", headers=h)).status_code == 200
    assert_error(await client.get("/api/v1/idtags/THEIRS", headers=h), 404)
    assert_error(await client.get("/api/v1/idtags/NOBODYS", headers=h), 404)
    assert_error(await client.post("/api/v1/idtags", json={"id_token": "X"}, headers=h), 403)
    r = await client.patch("/api/v1/idtags/MINE", json={"revoked": False}, headers=h)
    assert_error(r, 403)
    assert_error(await client.delete("/api/v1/idtags/MINE", headers=h), 403)


async def test_token_type_and_master_pass(client: httpx.AsyncClient, operator: Actor) -> None:
    h = operator.headers
    r = await client.post(
        "/api/v1/idtags",
        json={"id_token": "MP-GROUP", "master_pass": True, "token_type": "Central"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["master_pass"] is True and r.json()["token_type"] == "Central"
    r = await client.post("/api/v1/idtags", json={"id_token": "PLAIN"}, headers=h)
    assert r.json()["master_pass"] is False and r.json()["token_type"] is None
    r = await client.post(
        "/api/v1/idtags", json={"id_token": "BAD", "token_type": "Barcode"}, headers=h
    )
    assert_error(r, 422, "validation_error")
    r = await client.patch("/api/v1/idtags/PLAIN", json={"token_type": "eMAID"}, headers=h)
    assert r.status_code == 200 and r.json()["token_type"] == "eMAID"
    r = await client.patch("/api/v1/idtags/PLAIN", json={"master_pass": None}, headers=h)
    assert_error(r, 422, "validation_error")


async def test_local_list_of_an_unknown_chargepoint_is_404(
    client: httpx.AsyncClient, operator: Actor
) -> None:
    h = operator.headers
    assert_error(
        await client.get("/api/v1/chargepoints/NOPE/local-list", headers=h), 404, "not_found"
    )
    r = await client.post("/api/v1/chargepoints/NOPE/local-list", json={}, headers=h)
    assert_error(r, 404, "not_found")
    r = await client.get("/api/v1/chargepoints/NOPE/smart-charging", headers=h)
    assert_error(r, 404, "not_found")
