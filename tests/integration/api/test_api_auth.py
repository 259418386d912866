"""Login, tokens, API keys and the role rules around them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.bootstrap import ensure_admin
from services.api.security import create_access_token
from shared.backoff import Backoff
from shared.db.models import User
from shared.settings import Settings

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, USER_PASSWORD, Actor
from .helpers import assert_error

TOKEN_URL = "/api/v1/auth/token"


async def test_first_admin_is_created_at_startup_and_logs_in(client: httpx.AsyncClient) -> None:
    r = await client.post(TOKEN_URL, data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 600
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"], issuer="csms")
    assert claims["role"] == "admin"
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == ADMIN_EMAIL
    assert me.json()["last_login_at"] is not None


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    r = await client.post(
        TOKEN_URL, data={"username": ADMIN_EMAIL.upper(), "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200


async def test_bootstrap_does_nothing_when_an_admin_exists(
    app: object,
    api_settings: Settings,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    other = api_settings.model_copy(update={"admin_email": "second@csms.test"})
    assert await ensure_admin(db_sessionmaker, other) is False
    async with db_sessionmaker() as session:
        admins = (await session.scalars(select(User).where(User.role == "admin"))).all()
    assert [a.email for a in admins] == [ADMIN_EMAIL]


async def test_wrong_password_is_401(client: httpx.AsyncClient) -> None:
    r = await client.post(TOKEN_URL, data={"username": ADMIN_EMAIL, "password": "nope"})
    assert_error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"


async def test_unknown_user_is_401(client: httpx.AsyncClient) -> None:
    r = await client.post(TOKEN_URL, data={"username": "x@y.z", "password": "whatever"})
    assert_error(r, 401, "unauthorized")


async def test_login_missing_field_is_422_naming_it(client: httpx.AsyncClient) -> None:
    r = await client.post(TOKEN_URL, data={"username": ADMIN_EMAIL})
    assert_error(r, 422, "validation_error", field="password")


async def test_inactive_user_cannot_log_in(
    client: httpx.AsyncClient, admin: Actor, driver: Actor
) -> None:
    r = await client.patch(
        f"/api/v1/users/{driver.id}", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 200
    r = await client.post(TOKEN_URL, data={"username": driver.email, "password": USER_PASSWORD})
    assert_error(r, 401)
    # and the token issued before stops working too
    r = await client.get("/api/v1/users/me", headers=driver.headers)
    assert_error(r, 401)


async def test_no_credentials_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/locations"), 401, "unauthorized")


async def test_garbage_and_expired_tokens_are_401(client: httpx.AsyncClient, driver: Actor) -> None:
    r = await client.get("/api/v1/locations", headers={"Authorization": "Bearer not-a-jwt"})
    assert_error(r, 401)
    expired, _ = create_access_token(
        user_id=driver.id,  # type: ignore[arg-type]
        role="driver",
        secret=JWT_SECRET,
        ttl_seconds=60,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    r = await client.get("/api/v1/locations", headers={"Authorization": f"Bearer {expired}"})
    assert_error(r, 401)
    forged, _ = create_access_token(
        user_id=driver.id,  # type: ignore[arg-type]
        role="admin",
        secret="another-secret-of-sufficient-length-0123",
        ttl_seconds=60,
    )
    r = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {forged}"})
    assert_error(r, 401)


async def test_role_comes_from_the_database_not_the_token(
    client: httpx.AsyncClient, driver: Actor
) -> None:
    # A token claiming admin for a driver, signed with the real secret, still acts as driver.
    claims_admin, _ = create_access_token(
        user_id=driver.id,  # type: ignore[arg-type]
        role="admin",
        secret=JWT_SECRET,
        ttl_seconds=60,
    )
    r = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {claims_admin}"})
    assert_error(r, 403, "forbidden")


# -- API keys ------------------------------------------------------------------------------------


async def test_api_key_lifecycle(client: httpx.AsyncClient, admin: Actor) -> None:
    r = await client.post(
        "/api/v1/api-keys", json={"name": "billing app", "role": "operator"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("csms_") and key.startswith(created["prefix"])
    # both ways of sending it work, with the operator's rights
    r = await client.get("/api/v1/chargepoints", headers={"X-API-Key": key})
    assert r.status_code == 200
    r = await client.get("/api/v1/chargepoints", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    assert_error(await client.get("/api/v1/users", headers={"X-API-Key": key}), 403)
    # listed without the key, with last use recorded
    r = await client.get("/api/v1/api-keys", headers=admin.headers)
    assert r.status_code == 200
    (listed,) = r.json()["items"]
    assert "key" not in listed and "key_hash" not in listed
    assert listed["last_used_at"] is not None
    r = await client.get(f"/api/v1/api-keys/{created['id']}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["name"] == "billing app"
    # revoked: stops working at once, hidden from the default list
    r = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert_error(await client.get("/api/v1/chargepoints", headers={"X-API-Key": key}), 401)
    r = await client.get("/api/v1/api-keys", headers=admin.headers)
    assert r.json()["total"] == 0
    r = await client.get("/api/v1/api-keys?include_revoked=true", headers=admin.headers)
    assert r.json()["total"] == 1


async def test_api_key_with_wrong_secret_is_401(client: httpx.AsyncClient, admin: Actor) -> None:
    r = await client.post("/api/v1/api-keys", json={"name": "x"}, headers=admin.headers)
    key = r.json()["key"]
    tampered = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert_error(await client.get("/api/v1/locations", headers={"X-API-Key": tampered}), 401)
    assert_error(await client.get("/api/v1/locations", headers={"X-API-Key": "csms_nope"}), 401)


async def test_admin_api_key_manages_users(client: httpx.AsyncClient, admin: Actor) -> None:
    r = await client.post(
        "/api/v1/api-keys", json={"name": "provisioning", "role": "admin"}, headers=admin.headers
    )
    key = r.json()["key"]
    r = await client.get("/api/v1/users", headers={"X-API-Key": key})
    assert r.status_code == 200
    # "me" needs a person
    assert_error(await client.get("/api/v1/users/me", headers={"X-API-Key": key}), 403)


async def test_api_key_validation(client: httpx.AsyncClient, admin: Actor) -> None:
    r = await client.post("/api/v1/api-keys", json={"role": "operator"}, headers=admin.headers)
    assert_error(r, 422, field="name")
    r = await client.post(
        "/api/v1/api-keys", json={"name": "d", "role": "driver"}, headers=admin.headers
    )
    assert_error(r, 422, field="role")
    r = await client.post("/api/v1/api-keys", json={"name": "x" * 101}, headers=admin.headers)
    assert_error(r, 422, field="name")


async def test_api_keys_are_admin_only(
    client: httpx.AsyncClient, operator: Actor, driver: Actor
) -> None:
    for actor in (operator, driver):
        assert_error(await client.get("/api/v1/api-keys", headers=actor.headers), 403)
        r = await client.post("/api/v1/api-keys", json={"name": "x"}, headers=actor.headers)
        assert_error(r, 403)


async def test_api_key_not_found_and_bad_id(client: httpx.AsyncClient, admin: Actor) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert_error(await client.get(f"/api/v1/api-keys/{missing}", headers=admin.headers), 404)
    assert_error(await client.delete(f"/api/v1/api-keys/{missing}", headers=admin.headers), 404)
    r = await client.get("/api/v1/api-keys/not-a-uuid", headers=admin.headers)
    assert_error(r, 422, field="key_id")


async def test_repeated_wrong_passwords_back_off(
    app: FastAPI, client: httpx.AsyncClient, api_settings: Settings
) -> None:
    free = api_settings.auth_failures_before_backoff
    # A clock that stands still: the wait cannot run out while the test looks (no timing).
    app.state.login_backoff = Backoff(free_failures=free, clock=lambda: 1000.0)
    for _ in range(free):
        r = await client.post(TOKEN_URL, data={"username": ADMIN_EMAIL, "password": "nope"})
        assert_error(r, 401, "unauthorized")
    # One more failure and the account waits, from this address: 429 + Retry-After, even with
    # the right password (nothing is checked meanwhile).
    r = await client.post(TOKEN_URL, data={"username": ADMIN_EMAIL, "password": "nope"})
    assert_error(r, 401, "unauthorized")
    r = await client.post(TOKEN_URL, data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert_error(r, 429, "too_many_requests")
    assert int(r.headers["Retry-After"]) >= 1
    # Another account from the same address is not affected.
    r = await client.post(TOKEN_URL, data={"username": "someone@csms.test", "password": "x"})
    assert_error(r, 401, "unauthorized")
