"""Health, readiness, metrics, the OpenAPI document and the common error format."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.api.app import create_app
from shared.settings import Settings

from .conftest import Actor
from .helpers import assert_error


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.text == "ok"


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": True}}


async def test_readyz_is_503_without_database(api_settings: Settings) -> None:
    settings = api_settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    )
    app = create_app(settings)
    # no lifespan: the engine is created lazily only by the lifespan, so build one here
    from shared.db.session import create_engine

    app.state.engine = create_engine(settings.database_url)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"database": False}
    finally:
        await app.state.engine.dispose()


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    await client.get(
        "/api/v1/locations/00000000-0000-0000-0000-000000000000", headers=admin.headers
    )
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert (
        'http_requests_total{method="GET",route="/api/v1/locations/{location_id}",status="404"}'
        in r.text
    )
    assert "http_request_seconds_bucket" in r.text


async def test_openapi_and_docs(client: httpx.AsyncClient, app: FastAPI) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert "/api/v1/auth/token" in doc["paths"]
    assert "/api/v1/chargepoints/{chargepoint_id}" in doc["paths"]
    schemes = doc["components"]["securitySchemes"]
    assert {"OAuth2PasswordBearer", "APIKeyHeader"} <= set(schemes)
    # validation errors are documented in the common format, not FastAPI's default
    responses = doc["paths"]["/api/v1/locations"]["post"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    r = await client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()


async def test_unknown_route_and_method_use_the_error_format(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    assert_error(await client.get("/api/v1/nothing-here", headers=admin.headers), 404, "not_found")
    r = await client.put("/api/v1/locations", headers=admin.headers)
    assert_error(r, 405, "method_not_allowed")


async def test_malformed_json_is_a_clear_4xx(client: httpx.AsyncClient, admin: Actor) -> None:
    r = await client.post(
        "/api/v1/locations",
        content=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422)
    assert set(r.json()) == {"error"}


async def test_list_paging_and_sort_are_validated(client: httpx.AsyncClient, admin: Actor) -> None:
    h = admin.headers
    assert_error(await client.get("/api/v1/locations?limit=0", headers=h), 422, field="limit")
    assert_error(await client.get("/api/v1/locations?limit=501", headers=h), 422, field="limit")
    assert_error(await client.get("/api/v1/locations?offset=-1", headers=h), 422, field="offset")
    assert_error(await client.get("/api/v1/locations?sort=password", headers=h), 422, field="sort")


async def test_timestamps_are_utc_with_offset(client: httpx.AsyncClient, admin: Actor) -> None:
    r = await client.get("/api/v1/users/me", headers=admin.headers)
    created = r.json()["created_at"]
    assert created.endswith("+00:00"), created
