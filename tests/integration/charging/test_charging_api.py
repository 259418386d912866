"""The REST side: define, validate, install, clear; composite schedule; decisions.

The API's bus is a fake whose `rpc` runs the charging service's Dispatcher in-process with
the fake charge points, so a POST goes API -> charging service -> charge point -> back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.app import create_app
from services.api.chargingprofiles.router import composite_router, decisions_router
from services.api.security import create_access_token
from shared.bus.errors import Unroutable
from shared.db.models import User
from shared.dispatch import Dispatcher
from shared.envelope import Envelope
from shared.settings import Environment, Settings
from tests.factories import FakeDelivery, Sql

from .conftest import LOCATION, FakeChargePoints

pytestmark = pytest.mark.integration

ADMIN = "admin@charging.test"
CP = "CP-LB-00"


class InProcessBus:
    """`rpc` on csms.events handled by a charging Dispatcher; `running=False`: unroutable."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.running = True

    async def rpc(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        timeout: float,
        mandatory: bool = True,
    ) -> Envelope:
        if not self.running:
            raise Unroutable(exchange, routing_key)
        [reply] = await self.dispatcher([FakeDelivery(envelope, routing_key)])
        assert isinstance(reply, Envelope), reply
        return reply

    async def publish_event(self, envelope: Envelope) -> None:
        return None


@pytest.fixture
async def api(
    site: list[str],
    db_url: str,
    db_engine: AsyncEngine,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    dispatcher_factory: Callable[[], Dispatcher],
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, InProcessBus]]:
    settings = Settings(
        env=Environment.TEST,
        database_url=db_url,
        admin_email=ADMIN,
        admin_password=SecretStr("admin-password-charging"),
        jwt_secret=SecretStr("test-jwt-secret-0123456789abcdef0123456789"),
        media_dir=str(tmp_path),
    )
    bus = InProcessBus(dispatcher_factory())
    app: FastAPI = create_app(settings, engine=db_engine, bus=bus)  # type: ignore[arg-type]
    paths = {getattr(r, "path", "") for r in app.routes}
    if "/api/v1/balancing-decisions" not in paths:  # until app.py includes them
        app.include_router(composite_router, prefix="/api/v1")
        app.include_router(decisions_router, prefix="/api/v1")
    async with app.router.lifespan_context(app):
        async with db_sessionmaker() as session:
            user = (await session.execute(select(User).where(User.email == ADMIN))).scalar_one()
        token, _ = create_access_token(
            user_id=user.id,
            role=user.role,
            secret=settings.jwt_secret.get_secret_value(),
            ttl_seconds=600,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client, bus


def cp_max(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "chargepoint_id": CP,
        "connector_id": 0,
        "stack_level": 0,
        "chargingprofile_purpose": "ChargePointMaxProfile",
        "chargingprofile_kind": "Absolute",
        "start_schedule": "2026-01-01T00:00:00Z",
        "charging_rate_unit": "A",
        "chargingschedule_period": [{"start_period": 0, "limit": 20}],
    }
    body.update(over)
    return body


async def test_create_installs_through_the_charging_service(
    api: tuple[httpx.AsyncClient, InProcessBus], fleet: FakeChargePoints
) -> None:
    client, _ = api
    r = await client.post("/api/v1/charging-profiles", json=cp_max())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["install"] == {"status": "Installed", "outcome": "Accepted"}
    assert body["installations"][0]["status"] == "Installed"
    [sent] = fleet.sets(CP)
    assert sent["connectorId"] == 0
    assert sent["csChargingProfiles"]["chargingProfileId"] == body["chargingprofile_id"]
    assert sent["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 20.0}
    ]

    # PATCH re-installs with the same id; DELETE clears.
    pid = body["chargingprofile_id"]
    r = await client.patch(
        f"/api/v1/charging-profiles/{pid}",
        json={"chargingschedule_period": [{"startPeriod": 0, "limit": 16}]},
    )
    assert r.status_code == 200, r.text
    assert len(fleet.sets(CP)) == 2
    r = await client.delete(f"/api/v1/charging-profiles/{pid}")
    assert r.status_code == 204
    assert r.headers["X-Clear-Status"] == "Cleared"
    assert (await client.get(f"/api/v1/charging-profiles/{pid}")).status_code == 404


async def test_offline_or_no_service_is_pending(
    api: tuple[httpx.AsyncClient, InProcessBus], fleet: FakeChargePoints
) -> None:
    client, bus = api
    fleet.online.discard(CP)
    r = await client.post("/api/v1/charging-profiles", json=cp_max())
    assert r.json()["install"] == {"status": "Pending", "outcome": "offline"}
    bus.running = False
    r = await client.post("/api/v1/charging-profiles", json=cp_max(stack_level=1))
    assert r.status_code == 201
    assert r.json()["install"]["status"] == "Pending"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"connector_id": 1}, "body.connector_id"),
        (
            {"chargingschedule_period": [{"start_period": 60, "limit": 20}]},
            "body.chargingschedule_period.0.start_period",
        ),
        (
            {"chargingschedule_period": [{"start_period": 0, "limit": 0}]},
            "body.chargingschedule_period.0.limit",
        ),
        (
            {
                "chargingprofile_purpose": "TxProfile",
                "connector_id": 1,
                "chargingprofile_kind": "Relative",
                "start_schedule": None,
            },
            "body.transaction_id",
        ),
        ({"chargingprofile_kind": "Recurring"}, "body.recurrency_kind"),
    ],
)
async def test_invalid_profiles_are_422(
    api: tuple[httpx.AsyncClient, InProcessBus], over: dict[str, Any], field: str
) -> None:
    client, _ = api
    r = await client.post("/api/v1/charging-profiles", json=cp_max(**over))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert field in {d["field"] for d in error["details"]}, error
    assert error["message"]


async def test_duplicate_stack_level_is_422(api: tuple[httpx.AsyncClient, InProcessBus]) -> None:
    client, _ = api
    assert (await client.post("/api/v1/charging-profiles", json=cp_max())).status_code == 201
    r = await client.post("/api/v1/charging-profiles", json=cp_max())
    assert r.status_code == 422
    assert "already has purpose" in r.json()["error"]["message"]


async def test_composite_schedule_and_decisions(
    api: tuple[httpx.AsyncClient, InProcessBus], sql: Sql, fleet: FakeChargePoints
) -> None:
    client, _ = api
    await client.post("/api/v1/charging-profiles", json=cp_max())
    await client.post(
        "/api/v1/charging-profiles",
        json=cp_max(
            connector_id=1,
            chargingprofile_purpose="TxDefaultProfile",
            chargingschedule_period=[
                {"start_period": 0, "limit": 32},
                {"start_period": 3600, "limit": 10},
            ],
        ),
    )
    r = await client.get(
        f"/api/v1/chargepoints/{CP}/connectors/1/composite-schedule",
        params={"duration": 7200, "start": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 200, r.text
    assert [(p["start_period"], p["limit"]) for p in r.json()["periods"]] == [
        (0, 20.0),
        (3600, 10.0),
    ]
    r = await client.get(
        f"/api/v1/chargepoints/{CP}/connectors/1/composite-schedule",
        params={"duration": 60, "unit": "W", "start": "2026-01-01T00:00:00Z"},
    )
    assert r.json()["periods"][0]["limit"] == 13800.0
    assert (
        await client.get("/api/v1/chargepoints/NOPE/connectors/1/composite-schedule")
    ).status_code == 404

    # A TxProfile needs the active transaction; the balancer's limit shows in the schedule.
    tid = (
        await sql(
            "insert into transaction (chargepoint_id, connectorid, start_transaction_timestamp,"
            " wh_meter_start, wh_meter_last, id_tag, start_message_id)"
            " values (:cp, 1, now(), 0, 0, 'TAG', 'api-start') returning transaction_id",
            cp=CP,
        )
    )[0]["transaction_id"]
    await sql("update location set grid_limit = 12 where uuid = :u", u=LOCATION)
    await sql(
        "update connector set connector_status = 'Charging' where chargepoint_id = :cp", cp=CP
    )
    tx = {
        "chargepoint_id": CP,
        "connector_id": 1,
        "stack_level": 1,
        "chargingprofile_purpose": "TxProfile",
        "chargingprofile_kind": "Relative",
        "charging_rate_unit": "A",
        "chargingschedule_period": [{"start_period": 0, "limit": 16}],
    }
    r = await client.post("/api/v1/charging-profiles", json=tx)
    assert r.status_code == 201, r.text
    assert r.json()["transaction_id"] == tid
    r = await client.post("/api/v1/charging-profiles", json={**tx, "stack_level": 8})
    assert r.status_code == 422  # reserved for the load balancer
    r = await client.get(
        f"/api/v1/chargepoints/{CP}/connectors/1/composite-schedule", params={"duration": 60}
    )
    assert r.json()["transaction_id"] == tid
    assert r.json()["periods"][0]["limit"] == 12.0  # the balancer's share of the grid
    r = await client.get("/api/v1/balancing-decisions", params={"location_uuid": LOCATION})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items and items[0]["allocations"][0]["transaction_id"] == tid
    assert items[0]["allocations"][0]["limit"] == 12.0
