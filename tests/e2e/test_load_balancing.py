"""Site load balancing end to end: REST location with a grid limit -> charging service ->
SetChargingProfile over the real gateway to library charge points, which record their limits."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from bench.stack import Stack
from tests.e2e.ocpp16_client import Client, connected
from tests.patience import PATIENCE

pytestmark = [pytest.mark.e2e]

GRID_AMPS = 32.0


class LimitedClient(Client):
    """Accepts every SetChargingProfile and keeps the limit it got per transaction."""

    limits: dict[int, float]

    @on(Action.set_charging_profile)
    async def on_set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        periods = cs_charging_profiles["charging_schedule"]["charging_schedule_period"]
        tx = cs_charging_profiles.get("transaction_id")
        if tx is not None:
            self.limits[int(tx)] = float(periods[0]["limit"])
        return call_result.SetChargingProfile(status="Accepted")


async def provision(api: httpx.AsyncClient, n: int) -> None:
    loc = await api.post(
        "/api/v1/locations",
        json={
            "name": "Depot",
            "type": "parking_lot",
            "street_address": "1 Grid Road",
            "postal_code": "1000",
            "city": "Brussels",
            "country": "BE",
            "grid_limit": GRID_AMPS,
            "grid_limit_unit": "A",
            "balancing_strategy": "equal",
        },
    )
    assert loc.status_code == 201, loc.text
    for i in range(n):
        cp = await api.post(
            "/api/v1/chargepoints",
            json={"chargepoint_id": f"CP-LB-{i}", "location_id": loc.json()["uuid"]},
        )
        assert cp.status_code == 201, cp.text
        # A known tag: a start answered Invalid is Rejected, never open, never balanced.
        tag = await api.post("/api/v1/idtags", json={"id_token": f"TAG-LB-{i}"})
        assert tag.status_code == 201, tag.text


async def settle(cps: list[LimitedClient], active: dict[int, int], expected: float) -> None:
    """Wait until every active transaction holds `expected` A; the sum never exceeds the grid."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        current = {tx: cps[i].limits.get(tx) for tx, i in active.items()}
        assert sum(v for v in current.values() if v is not None) <= GRID_AMPS + 1e-9
        if all(v is not None and abs(v - expected) < 0.11 for v in current.values()):
            return
        if loop.time() > deadline:
            raise AssertionError(f"limits {current}, expected {expected} A each")
        await asyncio.sleep(0.05)


async def test_grid_limit_is_shared_and_freed(stack: Stack, api: httpx.AsyncClient) -> None:
    await provision(api, 3)
    async with AsyncExitStack() as stack_cm:
        cps: list[LimitedClient] = []
        for i in range(3):
            cp = await stack_cm.enter_async_context(
                connected(stack.ws_url, f"CP-LB-{i}", LimitedClient)
            )
            cp.limits = {}
            assert (await cp.boot()).status == "Accepted"
            await cp.status(1, "Preparing")
            cps.append(cp)
        active: dict[int, int] = {}
        for i, cp in enumerate(cps):
            tx = (await cp.start_tx(f"TAG-LB-{i}")).transaction_id
            await cp.status(1, "Charging")
            active[tx] = i
        await settle(cps, active, round(GRID_AMPS / 3 - 0.05, 1))
        # One session ends: the other two share the grid.
        first = next(iter(active))
        await cps[active.pop(first)].stop_tx(first, 1000)
        await settle(cps, active, GRID_AMPS / 2)
    decisions = await api.get("/api/v1/balancing-decisions")
    assert decisions.status_code == 200, decisions.text
    assert decisions.json()["total"] >= 2


class ProfileClient(Client):
    """Accepts SetChargingProfile and keeps every profile it was sent."""

    profiles: list[dict[str, Any]]

    @on(Action.set_charging_profile)
    async def on_set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        self.profiles.append({"connector_id": connector_id, **cs_charging_profiles})
        return call_result.SetChargingProfile(status="Accepted")


async def test_profile_defined_through_the_api_is_installed(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    """POST /charging-profiles -> charging service -> SetChargingProfile on the charge point."""
    await provision(api, 1)
    async with connected(stack.ws_url, "CP-LB-0", ProfileClient) as cp:
        cp.profiles = []
        await cp.boot()
        resp = await api.post(
            "/api/v1/charging-profiles",
            json={
                "chargepoint_id": "CP-LB-0",
                "connector_id": 0,
                "stack_level": 1,
                "chargingprofile_purpose": "ChargePointMaxProfile",
                "chargingprofile_kind": "Absolute",
                "charging_rate_unit": "A",
                "start_schedule": "2026-01-01T00:00:00Z",
                "chargingschedule_period": [{"start_period": 0, "limit": 20.0}],
            },
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["install"]["status"] == "Installed", resp.json()
        # The reconnect handling may re-send the same profile (same id replaces it, §5.16.2).
        assert cp.profiles
        assert {p["charging_profile_id"] for p in cp.profiles} == {
            resp.json()["chargingprofile_id"]
        }
        sent = cp.profiles[-1]
        assert sent["connector_id"] == 0
        assert sent["charging_profile_purpose"] == "ChargePointMaxProfile"
        assert sent["charging_schedule"]["charging_schedule_period"][0]["limit"] == 20.0
        schedule = await api.get(
            "/api/v1/chargepoints/CP-LB-0/connectors/1/composite-schedule",
            params={"duration": 3600},
        )
        assert schedule.status_code == 200, schedule.text
