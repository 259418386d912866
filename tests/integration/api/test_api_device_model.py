"""`/chargepoints/{id}/variables`, `/monitors`, `/display-messages`, `/reports`: filters,
paging, roles, and what the registry's device-model writes look like through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.device_model import (
    AttributeWrite,
    MonitorWrite,
    apply_monitoring_base,
    record_part,
    request_report,
    set_monitoring_level,
    write_attributes,
    write_display_messages,
    write_monitors,
)
from shared.ocpp.v201.common import MessageInfoType

from .conftest import Actor
from .factories import Factory
from .helpers import assert_error

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EVSE1 = ("EVSE", None, 1, None)
CONNECTOR11 = ("Connector", None, 1, 1)
CTRLR = ("OCPPCommCtrlr", None, None, None)


async def seed(sessionmaker: async_sessionmaker[AsyncSession], cp: str) -> None:
    async with sessionmaker() as session, session.begin():
        await write_attributes(
            session,
            cp,
            [
                AttributeWrite((CTRLR, "HeartbeatInterval", None), "Actual", "300", "ReadWrite"),
                AttributeWrite((CTRLR, "HeartbeatInterval", None), "MinSet", "30"),
                AttributeWrite((EVSE1, "Power", None), "Actual", "11000", "ReadOnly"),
                AttributeWrite((EVSE1, "AvailabilityState", None), "Actual", "Available"),
                AttributeWrite((CONNECTOR11, "ConnectorType", None), "Actual", "cType2"),
            ],
            NOW,
            characteristics={
                (EVSE1, "Power", None): {
                    "unit": "W",
                    "data_type": "decimal",
                    "min_limit": None,
                    "max_limit": Decimal(22000),
                    "values_list": None,
                    "supports_monitoring": True,
                }
            },
        )
        await write_monitors(
            session,
            cp,
            [MonitorWrite((EVSE1, "Power", None), 5, False, 80, "Delta", 3, "HardWiredMonitor")],
            NOW,
        )
        await apply_monitoring_base(session, cp, "HardWiredOnly", NOW)
        await set_monitoring_level(session, cp, 2)
        info = MessageInfoType.model_validate(
            {"id": 4, "priority": "AlwaysFront", "message": {"format": "UTF8", "content": "Hi"}}
        )
        await write_display_messages(session, cp, [info], NOW)
        await request_report(
            session,
            cp,
            kind="NotifyCustomerInformation",
            request_id=2,
            command="CustomerInformation",
            command_status="Accepted",
            now=NOW,
        )
        for seq, (tbc, data) in enumerate(((True, "a"), (False, "b"))):
            await record_part(
                session,
                cp,
                kind="NotifyCustomerInformation",
                request_id=2,
                seq_no=seq,
                tbc=tbc,
                generated_at=NOW,
                items=1,
                message_key=f"k{seq}",
                now=NOW,
                data=data,
            )


async def test_device_model_reads(
    client: httpx.AsyncClient,
    operator: Actor,
    driver: Actor,
    factory: Factory,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cp = (await factory.chargepoint()).chargepoint_id
    await seed(db_sessionmaker, cp)
    base = f"/api/v1/chargepoints/{cp}"
    h = operator.headers
    r = await client.get(f"{base}/variables", headers=h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 4
    assert [(v["component"]["name"], v["name"]) for v in page["items"]] == [
        ("Connector", "ConnectorType"),
        ("EVSE", "AvailabilityState"),
        ("EVSE", "Power"),
        ("OCPPCommCtrlr", "HeartbeatInterval"),
    ]
    hb = page["items"][3]
    assert [(a["type"], a["value"]) for a in hb["attributes"]] == [
        ("Actual", "300"),
        ("MinSet", "30"),
    ]
    assert hb["characteristics"] is None
    # Filters (names case-insensitive), paging.
    r = await client.get(
        f"{base}/variables", params={"evse": 1, "limit": 1, "offset": 1}, headers=h
    )
    assert r.json()["total"] == 3 and [v["name"] for v in r.json()["items"]] == [
        "AvailabilityState"
    ]
    r = await client.get(
        f"{base}/variables", params={"component": "evse", "variable": "POWER"}, headers=h
    )
    [power] = r.json()["items"]
    assert power["component"] == {
        "name": "EVSE",
        "instance": None,
        "evse_id": 1,
        "connector_id": None,
    }
    assert power["characteristics"]["unit"] == "W"
    assert power["characteristics"]["supports_monitoring"] is True
    r = await client.get(f"{base}/variables", params={"connector": 1}, headers=h)
    assert [v["name"] for v in r.json()["items"]] == ["ConnectorType"]

    r = await client.get(f"{base}/monitors", headers=h)
    [monitor] = r.json()["items"]
    assert (
        monitor["id"],
        monitor["variable"],
        monitor["type"],
        monitor["severity"],
        monitor["origin"],
    ) == (5, "Power", "Delta", 3, "HardWiredMonitor")
    # The station's monitoring base and level (its only monitor is hard-wired: not stale).
    r = await client.get(base, headers=h)
    assert r.status_code == 200, r.text
    assert (
        r.json()["monitoring_level"],
        r.json()["monitoring_base"],
        r.json()["monitors_stale_since"],
    ) == (2, "HardWiredOnly", None)
    r = await client.get(f"{base}/reports", headers=h)
    [report] = r.json()["items"]
    assert (report["status"], report["parts"], report["items"], report["text"]) == (
        "Complete",
        2,
        2,
        "ab",
    )
    # Display messages: every role; the device model: operators and admins.
    r = await client.get(f"{base}/display-messages", headers=driver.headers)
    assert [(m["id"], m["content"], m["priority"]) for m in r.json()["items"]] == [
        (4, "Hi", "AlwaysFront")
    ]
    for path in ("variables", "monitors", "reports"):
        assert_error(await client.get(f"{base}/{path}", headers=driver.headers), 403)
    assert_error(await client.get("/api/v1/chargepoints/NOPE/variables", headers=h), 404)
    assert_error(await client.get(f"{base}/variables", params={"sort": "value"}, headers=h), 422)
