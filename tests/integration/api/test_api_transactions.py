"""`/transactions`, meter values, `/reservations`: drivers see only their own."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx

from .conftest import Actor
from .factories import T0, Factory
from .helpers import assert_error


async def test_transaction_detail_has_energy_and_duration(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    tx = await factory.transaction(
        cp.chargepoint_id,
        "TAG",
        wh_meter_start=1000,
        wh_meter_stop=8500,
        wh_meter_last=8500,
        stop_transaction_timestamp=T0 + timedelta(minutes=90),
        status="Completed",
        reason_stopped="EVDisconnected",
    )
    r = await client.get(f"/api/v1/transactions/{tx.transaction_id}", headers=operator.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["energy_wh"] == 7500 and body["duration_seconds"] == 5400
    assert body["start_transaction_timestamp"] == "2024-05-01T08:00:00+00:00"
    assert body["status"] == "Completed" and body["reason_stopped"] == "EVDisconnected"
    assert body["id_tag"] == "TAG" and body["chargepoint_id"] == cp.chargepoint_id


async def test_active_transaction_energy_uses_last_reading(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    tx = await factory.transaction(cp.chargepoint_id, "TAG", wh_meter_start=100, wh_meter_last=350)
    r = await client.get(f"/api/v1/transactions/{tx.transaction_id}", headers=operator.headers)
    assert r.json()["energy_wh"] == 250 and r.json()["duration_seconds"] > 0


async def test_transaction_filters(
    client: httpx.AsyncClient, operator: Actor, driver: Actor, factory: Factory
) -> None:
    cp1 = await factory.chargepoint()
    cp2 = await factory.chargepoint()
    await factory.idtag("DRV", user_id=driver.id)
    t1 = await factory.transaction(cp1.chargepoint_id, "DRV", connectorid=1)
    t2 = await factory.transaction(
        cp2.chargepoint_id,
        "ANON",
        connectorid=2,
        start_transaction_timestamp=T0 + timedelta(days=1),
        stop_transaction_timestamp=T0 + timedelta(days=1, hours=1),
        status="Completed",
    )
    h = operator.headers

    async def ids(query: str) -> list[int]:
        r = await client.get(f"/api/v1/transactions?{query}", headers=h)
        assert r.status_code == 200, r.text
        return [t["transaction_id"] for t in r.json()["items"]]

    assert await ids("") == [t2.transaction_id, t1.transaction_id]
    assert await ids("sort=start_transaction_timestamp") == [t1.transaction_id, t2.transaction_id]
    assert await ids(f"chargepoint_id={cp1.chargepoint_id}") == [t1.transaction_id]
    assert await ids("connectorid=2") == [t2.transaction_id]
    assert await ids("id_tag=ANON") == [t2.transaction_id]
    assert await ids(f"user_id={driver.id}") == [t1.transaction_id]
    assert await ids("status=Active") == [t1.transaction_id]
    assert await ids("started_after=2024-05-01T12:00:00Z") == [t2.transaction_id]
    assert await ids("started_before=2024-05-01T10:00:00%2B02:00") == []
    assert await ids("started_before=2024-05-01T10:00:00Z") == [t1.transaction_id]


async def test_transaction_validation_and_not_found(
    client: httpx.AsyncClient, operator: Actor
) -> None:
    h = operator.headers
    assert_error(await client.get("/api/v1/transactions/999999", headers=h), 404, "not_found")
    assert_error(
        await client.get("/api/v1/transactions/abc", headers=h), 422, field="transaction_id"
    )
    r = await client.get("/api/v1/transactions/99999999999", headers=h)
    assert_error(r, 422, field="transaction_id")
    r = await client.get("/api/v1/transactions?status=Paused", headers=h)
    assert_error(r, 422, field="status")
    r = await client.get("/api/v1/transactions?started_after=yesterday", headers=h)
    assert_error(r, 422, field="started_after")
    assert_error(await client.get("/api/v1/transactions/999999/meter-values", headers=h), 404)


async def test_meter_values(client: httpx.AsyncClient, operator: Actor, factory: Factory) -> None:
    cp = await factory.chargepoint()
    tx = await factory.transaction(cp.chargepoint_id, "TAG")
    other = await factory.transaction(cp.chargepoint_id, "TAG2", connectorid=2)
    await factory.meter_value(
        tx.transaction_id, cp.chargepoint_id, timestamp=T0 + timedelta(minutes=10), value="1700"
    )
    await factory.meter_value(
        tx.transaction_id, cp.chargepoint_id, timestamp=T0 + timedelta(minutes=5), value="1600"
    )
    await factory.meter_value(
        tx.transaction_id,
        cp.chargepoint_id,
        measurand="Power.Active.Import",
        unit="W",
        value="7200",
    )
    await factory.meter_value(other.transaction_id, cp.chargepoint_id)
    h = operator.headers
    url = f"/api/v1/transactions/{tx.transaction_id}/meter-values"
    r = await client.get(url, headers=h)
    assert r.status_code == 200
    assert r.json()["total"] == 3
    r = await client.get(f"{url}?measurand=Energy.Active.Import.Register", headers=h)
    assert [m["value"] for m in r.json()["items"]] == ["1600", "1700"]
    assert r.json()["items"][0]["value_numeric"] == 1500.0
    r = await client.get(f"{url}?after=2024-05-01T08:06:00Z", headers=h)
    assert [m["value"] for m in r.json()["items"]] == ["1700"]


async def test_driver_sees_only_own_transactions(
    client: httpx.AsyncClient, driver: Actor, other_driver: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    await factory.idtag("MINE", user_id=driver.id)
    await factory.idtag("THEIRS", user_id=other_driver.id)
    mine = await factory.transaction(cp.chargepoint_id, "MINE")
    theirs = await factory.transaction(cp.chargepoint_id, "THEIRS", connectorid=2)
    await factory.meter_value(theirs.transaction_id, cp.chargepoint_id)
    h = driver.headers
    r = await client.get("/api/v1/transactions", headers=h)
    assert [t["transaction_id"] for t in r.json()["items"]] == [mine.transaction_id]
    r = await client.get(f"/api/v1/transactions?user_id={other_driver.id}", headers=h)
    assert r.json()["total"] == 0
    assert (
        await client.get(f"/api/v1/transactions/{mine.transaction_id}", headers=h)
    ).status_code == 200
    assert_error(await client.get(f"/api/v1/transactions/{theirs.transaction_id}", headers=h), 404)
    r = await client.get(f"/api/v1/transactions/{theirs.transaction_id}/meter-values", headers=h)
    assert_error(r, 404)


async def test_reservations(
    client: httpx.AsyncClient, operator: Actor, driver: Actor, other_driver: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    connector = await factory.connector(cp.chargepoint_id, 1)
    await factory.idtag("MINE", user_id=driver.id)
    await factory.idtag("THEIRS", user_id=other_driver.id)
    mine = await factory.reservation(connector, "MINE")
    theirs = await factory.reservation(
        connector, "THEIRS", status="Cancelled", expiry_date=T0 + timedelta(days=2)
    )
    r = await client.get("/api/v1/reservations", headers=operator.headers)
    assert r.json()["total"] == 2
    r = await client.get(f"/api/v1/reservations/{mine.uuid}", headers=operator.headers)
    body = r.json()
    assert body["chargepoint_id"] == cp.chargepoint_id and body["connectorid"] == 1
    assert body["status"] == "Active" and body["id_tag"] == "MINE"
    r = await client.get("/api/v1/reservations?status=Cancelled", headers=operator.headers)
    assert [x["uuid"] for x in r.json()["items"]] == [str(theirs.uuid)]
    r = await client.get(
        "/api/v1/reservations?expires_after=2024-05-02T00:00:00Z", headers=operator.headers
    )
    assert [x["uuid"] for x in r.json()["items"]] == [str(theirs.uuid)]
    r = await client.get(
        f"/api/v1/reservations?chargepoint_id={cp.chargepoint_id}", headers=operator.headers
    )
    assert r.json()["total"] == 2
    # the driver sees only their own
    r = await client.get("/api/v1/reservations", headers=driver.headers)
    assert [x["uuid"] for x in r.json()["items"]] == [str(mine.uuid)]
    assert_error(
        await client.get(f"/api/v1/reservations/{theirs.uuid}", headers=driver.headers), 404
    )
    missing = "00000000-0000-0000-0000-000000000000"
    assert_error(await client.get(f"/api/v1/reservations/{missing}", headers=operator.headers), 404)
    r = await client.get("/api/v1/reservations/abc", headers=operator.headers)
    assert_error(r, 422, field="reservation_uuid")
    r = await client.get("/api/v1/reservations?status=Whatever", headers=operator.headers)
    assert_error(r, 422, field="status")


async def test_reservation_of_any_connector_is_listed(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    """OCPP 1.6 ReserveNow on connectorId 0 reserves the charge point, not a connector row."""
    cp = await factory.chargepoint()
    connector = await factory.connector(cp.chargepoint_id, 1)
    await factory.idtag("ANY")
    row = await factory.reservation(connector, "ANY", connector_uuid=None, connectorid=0)
    r = await client.get(f"/api/v1/reservations/{row.uuid}", headers=operator.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["chargepoint_id"], body["connectorid"], body["connector_uuid"]) == (
        cp.chargepoint_id,
        0,
        None,
    )


# -- ending a transaction: /close and /stop (issue 10, item 5) ---------------------------------


async def test_close_settles_an_open_transaction_and_records_who(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    tx = await factory.transaction(cp.chargepoint_id, "TAG", wh_meter_start=1000)
    url = f"/api/v1/transactions/{tx.transaction_id}/close"
    r = await client.post(url, json={"reason": "charger replaced"}, headers=operator.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["reason_stopped"]) == ("Completed", "Administrative")
    assert (body["closed_by"], body["close_note"]) == (operator.email, "charger replaced")
    # Default meter value: the last reading (1500); default time: now.
    assert (body["wh_meter_stop"], body["energy_wh"]) == (1500, 500)
    assert body["stop_transaction_timestamp"] is not None
    again = await client.post(url, json={"reason": "twice"}, headers=operator.headers)
    assert_error(again, 409, "not_open")


async def test_close_with_the_meter_value_and_time_to_use(
    client: httpx.AsyncClient, admin: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    tx = await factory.transaction(cp.chargepoint_id, "TAG", wh_meter_start=1000)
    url = f"/api/v1/transactions/{tx.transaction_id}/close"
    below = await client.post(url, json={"reason": "x", "meter_stop": 999}, headers=admin.headers)
    assert_error(below, 422, field="meter_stop")
    early = await client.post(
        url, json={"reason": "x", "stopped_at": "2024-05-01T07:00:00Z"}, headers=admin.headers
    )
    assert_error(early, 422, field="stopped_at")
    r = await client.post(
        url,
        json={
            "reason": "meter read on site",
            "meter_stop": 1234.5,
            "stopped_at": "2024-05-01T09:00:00Z",
        },
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["wh_meter_stop"], body["energy_wh"], body["duration_seconds"]) == (
        1234.5,
        234.5,
        3600,
    )


async def test_close_and_stop_are_for_operators(
    client: httpx.AsyncClient, driver: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    await factory.idtag("DRV", user_id=driver.id)
    tx = await factory.transaction(cp.chargepoint_id, "DRV")
    base = f"/api/v1/transactions/{tx.transaction_id}"
    r = await client.post(f"{base}/close", json={"reason": "mine"}, headers=driver.headers)
    assert_error(r, 403)
    assert_error(await client.post(f"{base}/stop", headers=driver.headers), 403)


async def test_stop_refuses_a_stopped_or_unknown_transaction(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    done = await factory.transaction(
        cp.chargepoint_id,
        "TAG",
        status="Completed",
        wh_meter_stop=1500,
        stop_transaction_timestamp=T0 + timedelta(hours=1),
    )
    r = await client.post(
        f"/api/v1/transactions/{done.transaction_id}/stop", headers=operator.headers
    )
    assert_error(r, 409, "not_open")
    assert_error(
        await client.post("/api/v1/transactions/999999/stop", headers=operator.headers), 404
    )


async def test_energy_is_exact_in_the_api(
    client: httpx.AsyncClient, operator: Actor, factory: Factory
) -> None:
    cp = await factory.chargepoint()
    tx = await factory.transaction(
        cp.chargepoint_id,
        "TAG",
        wh_meter_start=Decimal("47.06"),
        wh_meter_last=Decimal("1047.57"),
        status="Rejected",
        authorization_status="ConcurrentTx",
    )
    r = await client.get(f"/api/v1/transactions/{tx.transaction_id}", headers=operator.headers)
    body = r.json()
    assert (body["wh_meter_start"], body["wh_meter_last"], body["energy_wh"]) == (
        47.06,
        1047.57,
        1000.51,
    )
    assert '"wh_meter_start":47.06' in r.text.replace(" ", "")
    assert (body["status"], body["authorization_status"]) == ("Rejected", "ConcurrentTx")
    listed = await client.get(
        "/api/v1/transactions", params={"status": "Rejected"}, headers=operator.headers
    )
    assert [t["transaction_id"] for t in listed.json()["items"]] == [tx.transaction_id]
