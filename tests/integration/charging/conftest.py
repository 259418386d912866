"""Fixtures of the charging integration tests: a site, fake charge points, the Dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.charging.installer import Installer
from services.charging.routes import build_router
from shared.commands import CommandOutcome, NotConnected, Result
from shared.dispatch import Dispatcher
from shared.settings import Settings
from tests.factories import RecordingPublisher, Sql

LOCATION = "00000000-0000-4000-8000-00000000c0de"


@dataclass
class FakeChargePoints:
    """Charge points as the central system sees them through SetChargingProfile.

    `balanced[(cp, connector)] = (transaction_id, limit)`: the balancer's TxProfile each
    holds. `check` runs after every accepted command (the invariant "at every moment").
    """

    online: set[str] = field(default_factory=set)
    # The transaction is 1.6's integer id or a 2.0.1 station's string transactionId.
    balanced: dict[tuple[str, int], tuple[int | str, Decimal]] = field(default_factory=dict)
    profiles: dict[tuple[str, int], dict[int, dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    check: Callable[[], None] | None = None

    async def __call__(
        self, *, chargepoint_id: str, action: str, payload: dict[str, Any]
    ) -> CommandOutcome:
        self.calls.append((chargepoint_id, action, payload))
        await asyncio.sleep(0)
        if chargepoint_id not in self.online:
            return NotConnected("offline")
        if chargepoint_id in self.reject:
            return Result({"status": "Rejected"})
        if action == "SetChargingProfile":
            if "chargingProfile" in payload:  # OCPP 2.0.1: evseId, a schedule list, an id
                v201 = payload["chargingProfile"]
                profile = {
                    **v201,
                    "chargingProfileId": v201["id"],
                    "chargingSchedule": v201["chargingSchedule"][0],
                }
                connector = payload["evseId"]
            else:
                profile = payload["csChargingProfiles"]
                connector = payload["connectorId"]
            if profile["stackLevel"] == 8 and profile["chargingProfilePurpose"] == "TxProfile":
                limit = Decimal(
                    str(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])
                )
                self.balanced[(chargepoint_id, connector)] = (profile["transactionId"], limit)
            else:
                slot = self.profiles.setdefault((chargepoint_id, connector), {})
                slot[profile["chargingProfileId"]] = profile
            if self.check is not None:
                self.check()
            return Result({"status": "Accepted"})
        if action == "ClearChargingProfile":
            for slot in self.profiles.values():
                slot.pop(payload["id" if "id" in payload else "chargingProfileId"], None)
            return Result({"status": "Accepted"})
        return Result({"status": "Accepted"})

    def sets(self, chargepoint_id: str | None = None) -> list[dict[str, Any]]:
        return [
            p
            for cp, action, p in self.calls
            if action == "SetChargingProfile" and chargepoint_id in (None, cp)
        ]


@pytest.fixture
def fleet() -> FakeChargePoints:
    return FakeChargePoints()


@pytest.fixture
def dispatcher_factory(
    db_sessionmaker: async_sessionmaker[AsyncSession], fleet: FakeChargePoints
) -> Callable[[], Dispatcher]:
    """A new Dispatcher (a replica of the charging service) talking to `fleet`."""

    def make() -> Dispatcher:
        return Dispatcher(
            router=build_router(Installer(fleet), db_sessionmaker),
            sessionmaker=db_sessionmaker,
            settings=Settings(),
            publisher=RecordingPublisher(),
        )

    return make


@pytest.fixture
async def site(clean_db: None, sql: Sql, fleet: FakeChargePoints) -> list[str]:
    """A location with a grid limit of 100 A (equal share) and 10 connected charge points."""
    await sql(
        "insert into location (uuid, name, street_address, postal_code, city, country,"
        " grid_limit, grid_limit_unit, balancing_strategy) values (:u, 'Depot', 'Main St 1',"
        " '1000', 'Town', 'BE', 100, 'A', 'equal')",
        u=LOCATION,
    )
    ids = [f"CP-LB-{i:02d}" for i in range(10)]
    for cp in ids:
        await sql(
            "insert into chargepoint (chargepoint_id, registration_status, connected,"
            " location_uuid) values (:cp, 'Accepted', true, :u)",
            cp=cp,
            u=LOCATION,
        )
        await sql(
            "insert into connector (chargepoint_id, connectorid, connector_status)"
            " values (:cp, 1, 'Available')",
            cp=cp,
        )
        fleet.online.add(cp)
    return ids
