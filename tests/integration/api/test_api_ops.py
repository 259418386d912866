"""Health, readiness, metrics, the OpenAPI document and the common error format."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import create_app
from services.api.deps import SessionDep
from shared.db.models import Transaction
from shared.settings import Settings

from .conftest import Actor
from .factories import Factory
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


async def test_non_finite_numbers_in_a_body_are_422(
    client: httpx.AsyncClient, admin: Actor, factory: Factory
) -> None:
    """Python's JSON parser takes NaN/Infinity; they used to reach JSONB and answer 500."""
    cp = await factory.chargepoint()
    url = f"/api/v1/chargepoints/{cp.chargepoint_id}/commands/remote-start-transaction"
    body = (
        '{"id_tag": "T1", "connector_id": 1, "charging_profile": {"charging_profile_id": 1,'
        ' "stack_level": 0, "charging_profile_purpose": "TxProfile",'
        ' "charging_profile_kind": "Relative", "charging_schedule": {"charging_rate_unit": "A",'
        ' "charging_schedule_period": [{"start_period": 0, "limit": %s}]}}}'
    )
    headers = admin.headers | {"Content-Type": "application/json"}
    for value in ("NaN", "Infinity", "-Infinity"):
        r = await client.post(url, content=body % value, headers=headers)
        assert_error(r, 422, field="limit")


async def test_database_data_errors_are_422_not_500(
    api_settings: Settings, db_engine: AsyncEngine
) -> None:
    """asyncpg reports SQLSTATE class 22 as a bare DBAPIError; it is still the client's input.

    The probe routes go on an app of this test's own (the `app` fixture's is shared)."""
    app = create_app(api_settings, engine=db_engine)

    async def bad_input(session: SessionDep, value: str) -> None:
        await session.execute(text("SELECT CAST(:v AS jsonb)"), {"v": value})

    async def too_big(session: SessionDep) -> None:
        await session.execute(
            select(Transaction).where(Transaction.transaction_id == 99_999_999_999)
        )

    async def broken(session: SessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table"))

    app.add_api_route("/_probe/json", bad_input)
    app.add_api_route("/_probe/int", too_big)
    app.add_api_route("/_probe/broken", broken)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert_error(await client.get("/_probe/json", params={"value": "NaN"}), 422)
        assert_error(await client.get("/_probe/int"), 422)
        assert_error(await client.get("/_probe/broken"), 500)


async def test_a_valid_command_without_a_broker_is_503(
    api_settings: Settings, db_engine: AsyncEngine, admin: Actor, factory: Factory
) -> None:
    """An app whose bus was never connected: a valid command is refused as unavailable, never
    sent or a 500.

    The state is made here, not borrowed: the shared `app` fixture's lifespan connects a bus to
    the test vhost in the background, so whether it has one by the time a request comes is a
    race. This app's lifespan never runs, so nothing ever connects its bus.
    """
    cp = await factory.chargepoint()
    no_broker = create_app(api_settings, engine=db_engine)
    assert no_broker.state.bus is None
    transport = httpx.ASGITransport(app=no_broker)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post(
            f"/api/v1/chargepoints/{cp.chargepoint_id}/commands/reset",
            json={"type": "Soft"},
            headers=admin.headers,
        )
    assert_error(r, 503, "unavailable")
