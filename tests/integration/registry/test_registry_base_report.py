"""The first-boot GetBaseReport (services/registry/base_report.py) on the real database and
broker: which boots ask, and that a request nobody answered is asked again at the next
boot. (That a connected station gets it once, and not after a reboot:
tests/e2e/test_ocpp201_device_model.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.base_report import REQUESTED_BY, build_router
from shared.bus import Bus
from shared.dispatch import Dispatcher
from shared.envelope import event
from shared.event_names import CHARGEPOINT_BOOTED
from shared.settings import Settings
from tests.factories import RecordingPublisher, Sql, delivery

pytestmark = pytest.mark.integration


def booted(cp: str, status: str, version: str) -> Any:
    return delivery(
        event(CHARGEPOINT_BOOTED, {"status": status, "created": True, "ocppVersion": version}, cp)
    )


async def state(sql: Sql, cp: str) -> tuple[bool, list[tuple[str, str]]]:
    [row] = await sql(
        "select base_report_requested_at is not null as claimed from chargepoint"
        " where chargepoint_id = :cp",
        cp=cp,
    )
    logged = await sql(
        "select outcome, request->>'reportBase' as base from command_log"
        " where chargepoint_id = :cp and requested_by = :by order by created_at",
        cp=cp,
        by=REQUESTED_BY,
    )
    return row["claimed"], [(r["outcome"], r["base"]) for r in logged]


@pytest.mark.parametrize("enabled", [True, False])
async def test_only_an_accepted_201_boot_asks_and_no_answer_releases_the_claim(
    bus: Bus,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    sql: Sql,
    cp: str,
    enabled: bool,
) -> None:
    await sql(
        "insert into chargepoint (chargepoint_id, ocpp_version, registration_status)"
        " values (:cp, 'ocpp2.0.1', 'Accepted')",
        cp=cp,
    )
    dispatcher = Dispatcher(
        router=build_router(bus, db_sessionmaker),
        sessionmaker=db_sessionmaker,
        settings=Settings(command_timeout=5, registry_base_report_on_first_boot=enabled),
        publisher=RecordingPublisher(),
    )
    # Pending, Rejected, or a 1.6 boot: nothing asked.
    await dispatcher([booted(cp, "Pending", "ocpp2.0.1")])
    await dispatcher([booted(cp, "Rejected", "ocpp2.0.1")])
    await dispatcher([booted(cp, "Accepted", "ocpp1.6")])
    assert await state(sql, cp) == (False, [])
    # Accepted 2.0.1, but nobody holds the station's socket: sent, not answered, released.
    await dispatcher([booted(cp, "Accepted", "ocpp2.0.1")])
    if not enabled:
        assert await state(sql, cp) == (False, [])
        return
    assert await state(sql, cp) == (False, [("offline", "FullInventory")])
    await dispatcher([booted(cp, "Accepted", "ocpp2.0.1")])
    assert await state(sql, cp) == (False, [("offline", "FullInventory")] * 2)
    # Claimed (asked and answered once): never asked again.
    await sql(
        "update chargepoint set base_report_requested_at = now() where chargepoint_id = :cp",
        cp=cp,
    )
    await dispatcher([booted(cp, "Accepted", "ocpp2.0.1")])
    assert await state(sql, cp) == (True, [("offline", "FullInventory")] * 2)
