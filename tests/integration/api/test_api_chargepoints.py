"""`/chargepoints` and their connectors."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.security import verify_password
from shared.db.models import ChargePoint

from .conftest import Actor
from .factories import Factory
from .helpers import assert_error

PASSWORD = "sixteen-chars-ok"


async def test_provision_read_accept_decommission(
    client: httpx.AsyncClient,
    operator: Actor,
    factory: Factory,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    loc = await factory.location()
    h = operator.headers
    r = await client.post(
        "/api/v1/chargepoints",
        json={"chargepoint_id": "CP-0001", "location_id": str(loc.uuid), "password": PASSWORD},
        headers=h,
    )
    assert r.status_code == 201, r.text
    cp = r.json()
    assert cp["chargepoint_id"] == "CP-0001"
    assert cp["location_id"] == str(loc.uuid)
    assert cp["registration_status"] == "Accepted"
    assert cp["has_password"] is True and "password" not in cp and "password_hash" not in cp
    assert cp["connectors"] == [] and cp["connected"] is False
    async with db_sessionmaker() as session:
        row = await session.scalar(
            select(ChargePoint).where(ChargePoint.chargepoint_id == "CP-0001")
        )
        assert row is not None and verify_password(PASSWORD, row.password_hash)
    # an operator sets it Pending, then Accepted again
    r = await client.patch(
        "/api/v1/chargepoints/CP-0001", json={"registration_status": "Pending"}, headers=h
    )
    assert r.status_code == 200 and r.json()["registration_status"] == "Pending"
    # With a password it is profile 1, never lowered: the password stays.
    assert r.json()["security_profile"] == 1
    r = await client.patch("/api/v1/chargepoints/CP-0001", json={"password": None}, headers=h)
    assert_error(r, 409, "conflict")
    # duplicate
    r = await client.post(
        "/api/v1/chargepoints",
        json={"chargepoint_id": "CP-0001", "location_id": str(loc.uuid)},
        headers=h,
    )
    assert_error(r, 409, "conflict")
    # decommission
    assert (await client.delete("/api/v1/chargepoints/CP-0001", headers=h)).status_code == 204
    r = await client.get("/api/v1/chargepoints/CP-0001", headers=h)
    assert r.json()["decommissioned_at"] is not None
    assert r.json()["registration_status"] == "Rejected"
    assert (await client.get("/api/v1/chargepoints", headers=h)).json()["total"] == 0
    r = await client.get("/api/v1/chargepoints?include_decommissioned=true", headers=h)
    assert r.json()["total"] == 1
    r = await client.patch(
        "/api/v1/chargepoints/CP-0001", json={"registration_status": "Accepted"}, headers=h
    )
    assert_error(r, 409)
    # provisioning again brings it back
    r = await client.post(
        "/api/v1/chargepoints",
        json={"chargepoint_id": "CP-0001", "location_id": str(loc.uuid)},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["decommissioned_at"] is None


async def test_accept_a_chargepoint_that_booted_unknown(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint(registration_status="Pending", location_uuid=None)
    r = await client.get(
        "/api/v1/chargepoints?registration_status=Pending", headers=operator.headers
    )
    assert [c["chargepoint_id"] for c in r.json()["items"]] == [cp.chargepoint_id]
    loc = await factory.location()
    r = await client.patch(
        f"/api/v1/chargepoints/{cp.chargepoint_id}",
        json={"registration_status": "Accepted", "location_id": str(loc.uuid)},
        headers=operator.headers,
    )
    assert r.status_code == 200
    assert r.json()["registration_status"] == "Accepted"
    assert r.json()["location_id"] == str(loc.uuid)


async def test_detail_has_connectors_and_last_heartbeat(
    client: httpx.AsyncClient, driver: Actor, factory: Factory
) -> None:
    beat = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    cp = await factory.chargepoint(last_heartbeat=beat)
    await factory.connector(cp.chargepoint_id, 2, connector_status="Charging")
    await factory.connector(cp.chargepoint_id, 1)
    r = await client.get(f"/api/v1/chargepoints/{cp.chargepoint_id}", headers=driver.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["last_heartbeat"] == "2024-06-01T12:00:00+00:00"
    for key in (
        "connected",
        "chargepoint_status",
        "ocpp_version",
        "chargepoint_vendor",
        "chargepoint_model",
        "firmware_version",
        "ip_address",
        "websocket_port",
    ):
        assert key in body
    assert [
        (c["connectorid"], c["connector_status"], c["availability_status"])
        for c in body["connectors"]
    ] == [(1, "Available", "Operative"), (2, "Charging", "Operative")]
    r = await client.get(
        f"/api/v1/chargepoints/{cp.chargepoint_id}/connectors", headers=driver.headers
    )
    assert r.json()["total"] == 2
    r = await client.get(
        f"/api/v1/chargepoints/{cp.chargepoint_id}/connectors/2", headers=driver.headers
    )
    assert r.status_code == 200 and r.json()["connector_status"] == "Charging"
    r = await client.get(
        f"/api/v1/chargepoints/{cp.chargepoint_id}/connectors/9", headers=driver.headers
    )
    assert_error(r, 404)
    r = await client.get(
        f"/api/v1/chargepoints/{cp.chargepoint_id}/connectors/x", headers=driver.headers
    )
    assert_error(r, 422, field="connectorid")
    assert_error(
        await client.get("/api/v1/chargepoints/nope/connectors", headers=driver.headers), 404
    )


async def test_list_filters(client: httpx.AsyncClient, operator: Actor, factory: Factory) -> None:
    loc = await factory.location()
    a = await factory.chargepoint(
        location_uuid=loc.uuid, connected=True, chargepoint_status="Faulted"
    )
    b = await factory.chargepoint(connected=False, ocpp_version="ocpp2.0.1")
    h = operator.headers

    async def ids(query: str) -> list[str]:
        r = await client.get(f"/api/v1/chargepoints?{query}", headers=h)
        assert r.status_code == 200, r.text
        return [c["chargepoint_id"] for c in r.json()["items"]]

    assert await ids("connected=true") == [a.chargepoint_id]
    assert await ids("connected=false") == [b.chargepoint_id]
    assert await ids("status=Faulted") == [a.chargepoint_id]
    assert await ids(f"location_id={loc.uuid}") == [a.chargepoint_id]
    assert await ids("ocpp_version=ocpp2.0.1") == [b.chargepoint_id]
    assert await ids("sort=-chargepoint_id") == sorted(
        [a.chargepoint_id, b.chargepoint_id], reverse=True
    )


async def test_chargepoint_validation(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    loc = await factory.location()
    h = operator.headers

    async def post(**body: object) -> httpx.Response:
        return await client.post("/api/v1/chargepoints", json=body, headers=h)

    assert_error(await post(location_id=str(loc.uuid)), 422, field="chargepoint_id")
    assert_error(
        await post(chargepoint_id="a/b", location_id=str(loc.uuid)), 422, field="chargepoint_id"
    )
    assert_error(
        await post(chargepoint_id="x" * 256, location_id=str(loc.uuid)), 422, field="chargepoint_id"
    )
    assert_error(await post(chargepoint_id="CP", location_id="nope"), 422, field="location_id")
    r = await post(chargepoint_id="CP", location_id="00000000-0000-0000-0000-000000000000")
    assert_error(r, 422, field="location_id")
    r = await post(chargepoint_id="CP", location_id=str(loc.uuid), password="short")
    assert_error(r, 422, field="password")
    r = await client.patch(
        "/api/v1/chargepoints/CP-x", json={"registration_status": "Maybe"}, headers=h
    )
    assert_error(r, 422, field="registration_status")
    r = await client.get("/api/v1/chargepoints?connected=perhaps", headers=h)
    assert_error(r, 422, field="connected")


async def test_chargepoint_not_found(client: httpx.AsyncClient, operator: Actor) -> None:
    h = operator.headers
    assert_error(await client.get("/api/v1/chargepoints/none", headers=h), 404, "not_found")
    r = await client.patch(
        "/api/v1/chargepoints/none", json={"registration_status": "Accepted"}, headers=h
    )
    assert_error(r, 404)
    assert_error(await client.delete("/api/v1/chargepoints/none", headers=h), 404)


async def test_drivers_cannot_provision(
    client: httpx.AsyncClient, driver: Actor, factory: Factory
) -> None:
    loc = await factory.location()
    cp = await factory.chargepoint()
    h = driver.headers
    r = await client.post(
        "/api/v1/chargepoints",
        json={"chargepoint_id": "CPX", "location_id": str(loc.uuid)},
        headers=h,
    )
    assert_error(r, 403, "forbidden")
    r = await client.patch(
        f"/api/v1/chargepoints/{cp.chargepoint_id}",
        json={"registration_status": "Rejected"},
        headers=h,
    )
    assert_error(r, 403)
    assert_error(await client.delete(f"/api/v1/chargepoints/{cp.chargepoint_id}", headers=h), 403)


async def test_security_profile_goes_up_only_after_the_station_reconnects(
    client: httpx.AsyncClient,
    operator: Actor,
    factory: Factory,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    loc = await factory.location()
    h = operator.headers
    body = {"chargepoint_id": "CP-SP", "location_id": str(loc.uuid)}
    # Profiles 1 and 2 authenticate with a password: none given -> refused.
    r = await client.post("/api/v1/chargepoints", json=body | {"security_profile": 2}, headers=h)
    assert_error(r, 422, "validation_error")
    r = await client.post(
        "/api/v1/chargepoints",
        json=body | {"security_profile": 1, "password": PASSWORD},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["security_profile"], r.json()["pending_security_profile"]) == (1, None)
    # Raised: pending until the station connects with it (the registry stores it then).
    r = await client.patch("/api/v1/chargepoints/CP-SP", json={"security_profile": 3}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["security_profile"], r.json()["pending_security_profile"]) == (1, 3)
    # Never lowered; the password a profile needs is not removed.
    r = await client.patch("/api/v1/chargepoints/CP-SP", json={"security_profile": 0}, headers=h)
    assert_error(r, 409, "conflict")
    r = await client.patch("/api/v1/chargepoints/CP-SP", json={"password": None}, headers=h)
    assert_error(r, 409, "conflict")
    # A password given to a profile 0 station: profile 1 at once (required from now on).
    r = await client.post(
        "/api/v1/chargepoints",
        json={"chargepoint_id": "CP-SP0", "location_id": str(loc.uuid)},
        headers=h,
    )
    assert r.json()["security_profile"] == 0 and r.json()["has_password"] is False
    r = await client.patch("/api/v1/chargepoints/CP-SP0", json={"password": PASSWORD}, headers=h)
    assert (r.json()["security_profile"], r.json()["pending_security_profile"]) == (1, None)
    # Back to the stored profile: nothing pending any more.
    r = await client.patch("/api/v1/chargepoints/CP-SP", json={"security_profile": 1}, headers=h)
    assert (r.json()["security_profile"], r.json()["pending_security_profile"]) == (1, None)
    async with db_sessionmaker() as session:
        row = await session.get(ChargePoint, "CP-SP")
        assert row is not None and (row.security_profile, row.pending_security_profile) == (1, None)
    r = await client.patch("/api/v1/chargepoints/CP-SP", json={"security_profile": 7}, headers=h)
    assert_error(r, 422, "validation_error")
