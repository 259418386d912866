"""Charging profiles, status notifications, heartbeats, command log, OCPP messages."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.factories import Sql

from .conftest import Actor
from .factories import T0, Factory
from .helpers import assert_error

OPERATOR_ONLY = [
    "/api/v1/charging-profiles",
    "/api/v1/charging-profiles/1",
    "/api/v1/status-notifications",
    "/api/v1/heartbeats",
    "/api/v1/command-log",
    "/api/v1/command-log/00000000-0000-0000-0000-000000000000",
    "/api/v1/ocpp-messages",
    "/api/v1/ocpp-messages/1",
    "/api/v1/security-events",
]


@pytest.mark.parametrize("url", OPERATOR_ONLY)
async def test_drivers_get_403(client: httpx.AsyncClient, driver: Actor, url: str) -> None:
    assert_error(await client.get(url, headers=driver.headers), 403, "forbidden")


async def test_charging_profiles(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    p1 = await factory.charging_profile(chargepoint_id=cp.chargepoint_id, connector_id=1)
    p2 = await factory.charging_profile(
        chargingprofile_purpose="ChargePointMaxProfile", stack_level=2
    )
    await factory.installation(p1.chargingprofile_id, cp.chargepoint_id, 1)
    h = operator.headers
    r = await client.get("/api/v1/charging-profiles", headers=h)
    assert r.json()["total"] == 2
    r = await client.get(f"/api/v1/charging-profiles?chargepoint_id={cp.chargepoint_id}", headers=h)
    assert [p["chargingprofile_id"] for p in r.json()["items"]] == [p1.chargingprofile_id]
    r = await client.get("/api/v1/charging-profiles?purpose=ChargePointMaxProfile", headers=h)
    assert [p["chargingprofile_id"] for p in r.json()["items"]] == [p2.chargingprofile_id]
    r = await client.get(f"/api/v1/charging-profiles/{p1.chargingprofile_id}", headers=h)
    body = r.json()
    assert body["chargingschedule_period"] == [{"startPeriod": 0, "limit": 16.0}]
    assert [
        (i["chargepoint_id"], i["connectorid"], i["status"]) for i in body["installations"]
    ] == [(cp.chargepoint_id, 1, "Installed")]
    assert_error(await client.get("/api/v1/charging-profiles/999", headers=h), 404)
    assert_error(
        await client.get("/api/v1/charging-profiles/x", headers=h), 422, field="chargingprofile_id"
    )
    assert_error(
        await client.get("/api/v1/charging-profiles?purpose=Max", headers=h), 422, field="purpose"
    )


async def test_status_notifications(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    await factory.status_notification(cp.chargepoint_id, 1, status="Charging", received_at=T0)
    await factory.status_notification(
        cp.chargepoint_id,
        0,
        status="Faulted",
        error_code="GroundFailure",
        received_at=T0 + timedelta(hours=1),
    )
    h = operator.headers
    r = await client.get("/api/v1/status-notifications", headers=h)
    assert [s["status"] for s in r.json()["items"]] == ["Faulted", "Charging"]
    r = await client.get("/api/v1/status-notifications?connectorid=1", headers=h)
    assert [s["status"] for s in r.json()["items"]] == ["Charging"]
    r = await client.get("/api/v1/status-notifications?error_code=GroundFailure", headers=h)
    assert r.json()["total"] == 1
    r = await client.get("/api/v1/status-notifications?after=2024-05-01T08:30:00Z", headers=h)
    assert [s["status"] for s in r.json()["items"]] == ["Faulted"]
    r = await client.get("/api/v1/status-notifications?before=2024-05-01T08:30:00Z", headers=h)
    assert [s["status"] for s in r.json()["items"]] == ["Charging"]
    r = await client.get("/api/v1/status-notifications?after=noon", headers=h)
    assert_error(r, 422, field="after")


async def test_heartbeats(client: httpx.AsyncClient, operator: Actor, factory: Factory) -> None:
    cp = await factory.chargepoint()
    other = await factory.chargepoint()
    for minutes in (0, 5, 10):
        await factory.heartbeat(cp.chargepoint_id, T0 + timedelta(minutes=minutes))
    await factory.heartbeat(other.chargepoint_id)
    h = operator.headers
    r = await client.get(f"/api/v1/heartbeats?chargepoint_id={cp.chargepoint_id}", headers=h)
    assert [b["timestamp"] for b in r.json()["items"]] == [
        "2024-05-01T08:10:00+00:00",
        "2024-05-01T08:05:00+00:00",
        "2024-05-01T08:00:00+00:00",
    ]
    r = await client.get(
        f"/api/v1/heartbeats?chargepoint_id={cp.chargepoint_id}"
        "&after=2024-05-01T08:05:00Z&before=2024-05-01T08:10:00Z",
        headers=h,
    )
    assert [b["timestamp"] for b in r.json()["items"]] == ["2024-05-01T08:05:00+00:00"]
    assert_error(
        await client.get("/api/v1/heartbeats?sort=chargepoint_id", headers=h), 422, field="sort"
    )

    # Keyset paging: `next_cursor` leads to the next page, newest first, nothing repeated.
    first = (
        await client.get(
            f"/api/v1/heartbeats?chargepoint_id={cp.chargepoint_id}&limit=2", headers=h
        )
    ).json()
    assert [b["timestamp"] for b in first["items"]] == [
        "2024-05-01T08:10:00+00:00",
        "2024-05-01T08:05:00+00:00",
    ]
    assert first["total"] == 3 and first["total_estimated"] is False
    second = (
        await client.get(
            "/api/v1/heartbeats",
            params={
                "chargepoint_id": cp.chargepoint_id,
                "limit": 2,
                "cursor": first["next_cursor"],
            },
            headers=h,
        )
    ).json()
    assert [b["timestamp"] for b in second["items"]] == ["2024-05-01T08:00:00+00:00"]
    assert second["next_cursor"] is None
    oldest_first = (
        await client.get(
            f"/api/v1/heartbeats?chargepoint_id={cp.chargepoint_id}&limit=2&sort=timestamp",
            headers=h,
        )
    ).json()
    assert oldest_first["items"][0]["timestamp"] == "2024-05-01T08:00:00+00:00"
    assert_error(
        await client.get("/api/v1/heartbeats?cursor=not-a-cursor", headers=h), 422, field="cursor"
    )


async def test_command_log(client: httpx.AsyncClient, operator: Actor, factory: Factory) -> None:
    cp = await factory.chargepoint()
    cmd = await factory.command(cp.chargepoint_id)
    await factory.command(
        cp.chargepoint_id, action="UnlockConnector", outcome="timeout", response=None
    )
    h = operator.headers
    r = await client.get("/api/v1/command-log?outcome=timeout", headers=h)
    assert [c["action"] for c in r.json()["items"]] == ["UnlockConnector"]
    r = await client.get(f"/api/v1/command-log/{cmd.id}", headers=h)
    assert r.status_code == 200 and r.json()["request"] == {"type": "Soft"}
    missing = "00000000-0000-0000-0000-000000000000"
    assert_error(await client.get(f"/api/v1/command-log/{missing}", headers=h), 404)
    assert_error(await client.get("/api/v1/command-log/1", headers=h), 422, field="command_id")


async def test_ocpp_messages(client: httpx.AsyncClient, operator: Actor, factory: Factory) -> None:
    cp = await factory.chargepoint()
    call = await factory.ocpp_message(cp.chargepoint_id, payload={"a": 1})
    await factory.ocpp_message(
        cp.chargepoint_id,
        direction="out",
        message_type=3,
        action=None,
        unique_id=call.unique_id,
        payload={"currentTime": "2024-05-01T08:00:00Z"},
    )
    h = operator.headers
    r = await client.get(f"/api/v1/ocpp-messages?unique_id={call.unique_id}", headers=h)
    assert r.json()["total"] == 2
    r = await client.get("/api/v1/ocpp-messages?message_type=3&direction=out", headers=h)
    assert [m["payload"] for m in r.json()["items"]] == [{"currentTime": "2024-05-01T08:00:00Z"}]
    r = await client.get(f"/api/v1/ocpp-messages/{call.id}", headers=h)
    assert r.json()["action"] == "Heartbeat"
    assert_error(await client.get("/api/v1/ocpp-messages/999999", headers=h), 404)
    assert_error(
        await client.get("/api/v1/ocpp-messages?message_type=9", headers=h),
        422,
        field="message_type",
    )


async def test_security_events(
    client: httpx.AsyncClient, operator: Actor, factory: Factory, sql: Sql
) -> None:
    cp = await factory.chargepoint()
    other = await factory.chargepoint()
    rows = [
        (cp.chargepoint_id, "chargepoint", "TamperDetectionActivated", 0),
        (cp.chargepoint_id, "csms", "FailedToAuthenticateAtCsms", 5),
        (other.chargepoint_id, "csms", "FailedToAuthenticateAtCsms", 10),
    ]
    for cp_id, source, kind, minutes in rows:
        await sql(
            "insert into security_event (chargepoint_id, source, type, occurred_at) "
            "values (:cp, :source, :type, :at)",
            cp=cp_id,
            source=source,
            type=kind,
            at=T0 + timedelta(minutes=minutes),
        )
    h = operator.headers
    r = await client.get(f"/api/v1/security-events?chargepoint_id={cp.chargepoint_id}", headers=h)
    assert r.status_code == 200, r.text
    assert [(e["source"], e["type"]) for e in r.json()["items"]] == [
        ("csms", "FailedToAuthenticateAtCsms"),
        ("chargepoint", "TamperDetectionActivated"),
    ]
    r = await client.get("/api/v1/security-events?source=csms", headers=h)
    assert [e["chargepoint_id"] for e in r.json()["items"]] == [
        other.chargepoint_id,
        cp.chargepoint_id,
    ]
    r = await client.get(
        "/api/v1/security-events?type=TamperDetectionActivated&after=2024-05-01T08:00:00Z",
        headers=h,
    )
    assert [e["occurred_at"] for e in r.json()["items"]] == ["2024-05-01T08:00:00+00:00"]
    assert_error(await client.get("/api/v1/security-events?source=x", headers=h), 422)
