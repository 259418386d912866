"""A site that mixes OCPP 1.6 and 2.0.1 stations, end to end through the real gateway: one
location, one grid limit, each station gets the balancer's profile in its own version
(1.6 `csChargingProfiles`, 2.0.1 `chargingProfile` with its transactionId and a schedule
list); external limits of a 2.0.1 station (NotifyChargingLimit) cap its share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.ocpp16_client import connected as connected16
from tests.e2e.test_load_balancing import LimitedClient
from tests.e2e.test_ocpp16_session import eventually, rows
from tests.patience import PATIENCE

pytestmark = [pytest.mark.e2e]

GRID_AMPS = 32.0


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Station201(ChargePoint):  # type: ignore[misc]
    """A 2.0.1 station that accepts SetChargingProfile and keeps the limit per transaction,
    and every profile as it came (to check its 2.0.1 shape)."""

    limits: dict[str, float]
    profiles: list[dict[str, Any]]
    seq_no: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = {}
        self.profiles = []
        self.cleared: list[dict[str, Any]] = []

    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)

    async def boot(self) -> Any:
        return await self.send(
            call.BootNotification(
                charging_station={"model": "Model-201", "vendor_name": "E2E-201"},
                reason="PowerUp",
            )
        )

    async def status(self, evse: int, status: str) -> Any:
        return await self.send(
            call.StatusNotification(
                timestamp=now(), connector_status=status, evse_id=evse, connector_id=1
            )
        )

    async def event(self, event_type: str, trigger: str, info: dict[str, Any], **kw: Any) -> Any:
        seq_no, self.seq_no = self.seq_no, self.seq_no + 1
        return await self.send(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=now(),
                trigger_reason=trigger,
                seq_no=seq_no,
                transaction_info=info,
                **kw,
            )
        )

    async def start_tx(self, tx: str, tag: str, evse: int = 1) -> Any:
        return await self.event(
            "Started",
            "Authorized",
            {"transaction_id": tx, "charging_state": "Charging"},
            evse={"id": evse, "connector_id": 1},
            id_token={"id_token": tag, "type": "ISO14443"},
        )

    async def end(self, tx: str) -> Any:
        return await self.event(
            "Ended", "StopAuthorized", {"transaction_id": tx, "stopped_reason": "Local"}
        )

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any]) -> Any:
        self.profiles.append({"evse_id": evse_id, **charging_profile})
        tx = charging_profile.get("transaction_id")
        if tx is not None:
            period = charging_profile["charging_schedule"][0]["charging_schedule_period"][0]
            self.limits[tx] = float(period["limit"])
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kw: Any) -> Any:
        self.cleared.append(kw)
        return call_result.ClearChargingProfile(status="Accepted")


@asynccontextmanager
async def connected201(ws_url: str, cp_id: str) -> AsyncIterator[Station201]:
    async with websockets.connect(
        f"{ws_url}/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        station = Station201(cp_id, ws)
        task = asyncio.create_task(ChargePoint.start(station))
        try:
            yield station
        finally:
            task.cancel()


async def provision(api: httpx.AsyncClient, ids: list[str], tags: list[str]) -> None:
    loc = await api.post(
        "/api/v1/locations",
        json={
            "name": "Mixed depot",
            "type": "parking_lot",
            "street_address": "2 Grid Road",
            "postal_code": "1000",
            "city": "Brussels",
            "country": "BE",
            "grid_limit": GRID_AMPS,
            "grid_limit_unit": "A",
            "balancing_strategy": "equal",
        },
    )
    assert loc.status_code == 201, loc.text
    for cp_id in ids:
        cp = await api.post(
            "/api/v1/chargepoints",
            json={"chargepoint_id": cp_id, "location_id": loc.json()["uuid"]},
        )
        assert cp.status_code == 201, cp.text
    for tag in tags:
        resp = await api.post("/api/v1/idtags", json={"id_token": tag})
        assert resp.status_code == 201, resp.text


async def settle(limits: Callable[[], dict[str, float | None]], expected: dict[str, float]) -> None:
    """Wait until each session holds its expected limit; the sum never exceeds the grid."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        current = limits()
        assert sum(v for v in current.values() if v is not None) <= GRID_AMPS + 1e-9, current
        if all(
            current.get(k) is not None and abs(float(current[k] or 0) - v) < 0.11
            for k, v in expected.items()
        ):
            return
        if loop.time() > deadline:
            raise AssertionError(f"limits {current}, expected {expected}")
        await asyncio.sleep(0.05)


async def test_mixed_site_is_balanced_as_one(stack: Stack, api: httpx.AsyncClient) -> None:
    await provision(api, ["CP-MIX-16", "CP-MIX-201"], ["TAG-MIX-16", "TAG-MIX-201"])
    async with (
        connected16(stack.ws_url, "CP-MIX-16", LimitedClient) as cp16,
        connected201(stack.ws_url, "CP-MIX-201") as cp201,
    ):
        cp16.limits = {}
        assert (await cp16.boot()).status == "Accepted"
        assert (await cp201.boot()).status == "Accepted"
        await cp16.status(1, "Preparing")
        await cp201.status(1, "Occupied")

        def limits() -> dict[str, float | None]:
            # The sessions currently open (a stopped one no longer draws).
            out: dict[str, float | None] = {f"16:{tx}": cp16.limits.get(tx) for tx in open16}
            out.update({f"201:{tx}": cp201.limits.get(tx) for tx in open201})
            return out

        open16: list[int] = []
        open201: list[str] = []
        tx16 = (await cp16.start_tx("TAG-MIX-16")).transaction_id
        await cp16.status(1, "Charging")
        open16.append(tx16)
        await settle(limits, {f"16:{tx16}": GRID_AMPS})

        # The 2.0.1 station starts: both share the grid, each in its own version.
        answer = await cp201.start_tx("mix-tx-1", "TAG-MIX-201")
        assert answer.id_token_info["status"] == "Accepted"
        open201.append("mix-tx-1")
        await settle(limits, {f"16:{tx16}": GRID_AMPS / 2, "201:mix-tx-1": GRID_AMPS / 2})
        sent = cp201.profiles[-1]
        assert sent["evse_id"] == 1
        assert sent["charging_profile_purpose"] == "TxProfile"
        assert sent["charging_profile_kind"] == "Relative"
        assert sent["transaction_id"] == "mix-tx-1"
        assert sent["stack_level"] == 8
        schedule = sent["charging_schedule"]
        assert isinstance(schedule, list) and len(schedule) == 1
        assert schedule[0]["id"] == sent["id"]
        assert schedule[0]["charging_rate_unit"] == "A"

        # The EV of the 2.0.1 station suspends (chargingState): it keeps its minimum.
        await cp201.event(
            "Updated",
            "ChargingStateChanged",
            {"transaction_id": "mix-tx-1", "charging_state": "SuspendedEV"},
        )
        await settle(limits, {f"16:{tx16}": GRID_AMPS - 6, "201:mix-tx-1": 6.0})
        await cp201.event(
            "Updated",
            "ChargingStateChanged",
            {"transaction_id": "mix-tx-1", "charging_state": "Charging"},
        )
        await settle(limits, {f"16:{tx16}": GRID_AMPS / 2, "201:mix-tx-1": GRID_AMPS / 2})

        # The 1.6 session ends: the 2.0.1 one gets the whole grid.
        await cp16.stop_tx(tx16, 1000)
        open16.remove(tx16)
        await settle(limits, {"201:mix-tx-1": GRID_AMPS})

        # The 1.6 station starts again, then the 2.0.1 one ends: the 1.6 one gets it all.
        tx16b = (await cp16.start_tx("TAG-MIX-16")).transaction_id
        open16.append(tx16b)
        await settle(limits, {f"16:{tx16b}": GRID_AMPS / 2, "201:mix-tx-1": GRID_AMPS / 2})
        await cp201.end("mix-tx-1")
        open201.remove("mix-tx-1")
        await settle(limits, {f"16:{tx16b}": GRID_AMPS})

    decisions = await api.get("/api/v1/balancing-decisions", params={"limit": 100})
    assert decisions.status_code == 200, decisions.text
    outcomes = {
        (e["chargepoint_id"], e["outcome"]) for d in decisions.json()["items"] for e in d["sent"]
    }
    assert ("CP-MIX-201", "Accepted") in outcomes, outcomes
    assert not any(o.startswith("refused") for _, o in outcomes), outcomes


async def test_external_limits_and_ev_needs_cap_a_201_station(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """K12/K13/K15/K17/K09: a station's external limit and its EV's maximum cap its share
    (the other station of the site gets the rest); Cleared lifts it; reports are stored."""
    await provision(api, ["CP-EXT-16", "CP-EXT-201"], ["TAG-EXT-16", "TAG-EXT-201"])
    async with (
        connected16(stack.ws_url, "CP-EXT-16", LimitedClient) as cp16,
        connected201(stack.ws_url, "CP-EXT-201") as cp201,
    ):
        cp16.limits = {}
        await cp16.boot()
        await cp201.boot()
        await cp16.status(1, "Charging")
        await cp201.status(1, "Occupied")
        tx16 = (await cp16.start_tx("TAG-EXT-16")).transaction_id
        await cp201.start_tx("ext-tx-1", "TAG-EXT-201")

        def limits() -> dict[str, float | None]:
            return {"16": cp16.limits.get(tx16), "201": cp201.limits.get("ext-tx-1")}

        await settle(limits, {"16": 16.0, "201": 16.0})

        # K12: the EMS limits EVSE 1 to 10 A.
        await cp201.send(
            call.NotifyChargingLimit(
                evse_id=1,
                charging_limit={"charging_limit_source": "EMS", "is_grid_critical": True},
                charging_schedule=[
                    {
                        "id": 1,
                        "charging_rate_unit": "A",
                        "charging_schedule_period": [{"start_period": 0, "limit": 10}],
                    }
                ],
            )
        )
        await settle(limits, {"16": 22.0, "201": 10.0})
        stored = await rows(
            db_engine,
            "select evse_id, source, grid_critical, schedule from charging_limit"
            " where chargepoint_id='CP-EXT-201'",
        )
        assert len(stored) == 1
        assert stored[0]["source"] == "EMS" and stored[0]["grid_critical"] is True
        assert stored[0]["schedule"][0]["chargingSchedulePeriod"][0]["limit"] == 10

        # K13: cleared -> the shares are equal again.
        await cp201.send(call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
        await settle(limits, {"16": 16.0, "201": 16.0})
        await eventually(
            db_engine, "select count(*) from charging_limit where chargepoint_id='CP-EXT-201'", 0
        )

        # K15: the EV can take 12 A at most: Accepted, and its share follows.
        answer = await cp201.send(
            call.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requested_energy_transfer": "AC_three_phase",
                    "departure_time": "2030-01-01T08:00:00Z",
                    "ac_charging_parameters": {
                        "energy_amount": 20000,
                        "ev_min_current": 6,
                        "ev_max_current": 12,
                        "ev_max_voltage": 400,
                    },
                },
            )
        )
        assert answer.status == "Accepted"
        await settle(limits, {"16": 20.0, "201": 12.0})
        # K17: the EV's schedule is stored with its needs.
        answer = await cp201.send(
            call.NotifyEVChargingSchedule(
                time_base=now(),
                evse_id=1,
                charging_schedule={
                    "id": 5,
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": 12}],
                },
            )
        )
        assert answer.status == "Accepted"
        need = await rows(
            db_engine,
            "select n.ev_max_current, n.energy_amount, n.departure_time, n.ev_schedule,"
            " t.remote_transaction_id from ev_charging_need n"
            " join transaction t using (transaction_id) where n.chargepoint_id='CP-EXT-201'",
        )
        assert len(need) == 1
        assert need[0]["ev_max_current"] == 12 and need[0]["energy_amount"] == 20000
        assert need[0]["remote_transaction_id"] == "ext-tx-1"
        assert need[0]["ev_schedule"]["id"] == 5

        # K09: a report in two parts (tbc) is stored whole.
        for profile_id, tbc in ((31, True), (32, False)):
            await cp201.send(
                call.ReportChargingProfiles(
                    request_id=77,
                    charging_limit_source="CSO",
                    evse_id=1,
                    tbc=tbc,
                    charging_profile=[
                        {
                            "id": profile_id,
                            "stack_level": 1,
                            "charging_profile_purpose": "TxDefaultProfile",
                            "charging_profile_kind": "Absolute",
                            "charging_schedule": [
                                {
                                    "id": 1,
                                    "start_schedule": "2030-01-01T00:00:00Z",
                                    "charging_rate_unit": "A",
                                    "charging_schedule_period": [{"start_period": 0, "limit": 16}],
                                }
                            ],
                        }
                    ],
                )
            )
        await eventually(
            db_engine,
            "select string_agg(chargingprofile_id::text, ',' order by chargingprofile_id)"
            " from reported_charging_profile where chargepoint_id='CP-EXT-201'"
            " and request_id=77",
            "31,32",
        )
    # The operator reads what the station reported.
    read = await api.get("/api/v1/chargepoints/CP-EXT-201/smart-charging")
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["charging_limits"] == []  # cleared
    assert [p["chargingprofile_id"] for p in body["reported_profiles"]] == [31, 32]
    [need] = body["ev_charging_needs"]
    assert need["evse_id"] == 1 and float(need["ev_max_current"]) == 12
    assert need["ev_schedule"]["chargingSchedulePeriod"][0]["limit"] == 12


async def test_api_profile_is_installed_and_cleared_in_201(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    """POST /charging-profiles to a 2.0.1 station: SetChargingProfile in 2.0.1 form (the
    ChargePointMaxProfile as ChargingStationMaxProfile on evseId 0); DELETE clears it with
    the 2.0.1 chargingProfileId."""
    await provision(api, ["CP-API-201"], [])
    async with connected201(stack.ws_url, "CP-API-201") as cp:
        await cp.boot()
        resp = await api.post(
            "/api/v1/charging-profiles",
            json={
                "chargepoint_id": "CP-API-201",
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
        profile_id = resp.json()["chargingprofile_id"]
        sent = cp.profiles[-1]
        assert sent["evse_id"] == 0 and sent["id"] == profile_id
        assert sent["charging_profile_purpose"] == "ChargingStationMaxProfile"
        assert sent["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 20.0
        deleted = await api.delete(f"/api/v1/charging-profiles/{profile_id}")
        assert deleted.status_code == 204, deleted.text
        assert deleted.headers["X-Clear-Status"] == "Cleared"
        assert cp.cleared == [{"charging_profile_id": profile_id}]
