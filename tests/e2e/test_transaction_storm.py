"""Transactions that never end must not lock id tags (issue 10, item 5), end to end.

A reconnect storm at small scale: 10 charge points are killed mid-transaction (the socket
drops, no StopTransaction), reboot and either start again on the same connector with the
same tag (the old transaction is Superseded) or report the connector Available (the old one
is closed Rebooted after the grace period). Every tag has a limit of one open transaction:
none stays locked, and no open transaction is left on a connector shown Available. Then the
operator endpoints: a remote stop through the gateway, a close of an offline one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.ocpp16_client import Client, connected
from tests.e2e.test_ocpp16_session import eventually, rows
from tests.e2e.test_ocpp201_session import Client as Client201
from tests.e2e.test_ocpp201_session import energy as energy201
from tests.e2e.test_ocpp201_session import ts as ts201

pytestmark = [pytest.mark.e2e]

STATIONS = 10
GRACE = "2"


@pytest.fixture
async def short_grace(stack: Stack) -> AsyncIterator[None]:
    """The transactions service with a 2 s grace period (restored afterwards)."""
    await stack.stop("transactions")
    await stack.start("transactions", env={"CSMS_STALE_TRANSACTION_GRACE": GRACE})
    try:
        yield
    finally:
        await stack.stop("transactions")
        await stack.start("transactions")


async def add_limited_tag(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("insert into id_tag (id_token, max_active_transactions) values (:t, 1)"),
            {"t": token},
        )


async def first_life(ws_url: str, cp_id: str, tag: str) -> int:
    """Boot, charge on connector 1, then die: the socket drops without a StopTransaction."""
    async with connected(ws_url, cp_id) as cp:
        await cp.boot()
        await cp.status(1, "Preparing")
        start = await cp.start_tx(tag, meter=1000)
        assert start.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Charging")
        await cp.meter(start.transaction_id, 1400)
        tx: int = start.transaction_id
        return tx


async def second_life(ws_url: str, cp_id: str, tag: str, *, charge_again: bool) -> str | None:
    """Reboot; charge again on connector 1 (the status a new start gets) or stay Available."""
    async with connected(ws_url, cp_id) as cp:
        await cp.boot()
        if not charge_again:
            await cp.status(1, "Available")
            return None
        await cp.status(1, "Preparing")
        start = await cp.start_tx(tag, meter=1500)
        await cp.status(1, "Charging")
        status: str = start.id_tag_info["status"]
        return status


async def test_a_reboot_storm_leaves_no_tag_locked_and_no_stale_transaction(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine, short_grace: None
) -> None:
    ids = [f"CP-STORM-{i:02d}" for i in range(STATIONS)]
    tags = {cp_id: f"TAG-STORM-{i:02d}" for i, cp_id in enumerate(ids)}
    for tag in tags.values():
        await add_limited_tag(db_engine, tag)
    old = await asyncio.gather(*(first_life(stack.ws_url, c, tags[c]) for c in ids))
    again = {cp_id: i % 2 == 0 for i, cp_id in enumerate(ids)}
    answers = await asyncio.gather(
        *(second_life(stack.ws_url, c, tags[c], charge_again=again[c]) for c in ids)
    )
    # The ones that charged again were accepted at once: the old transaction did not count.
    assert [a for c, a in zip(ids, answers, strict=True) if again[c]] == ["Accepted"] * 5

    # After the grace period no open transaction sits on a connector shown Available.
    await eventually(
        db_engine,
        "select count(*) from transaction t join connector c on c.chargepoint_id = "
        "t.chargepoint_id and c.connectorid = t.connectorid "
        "where t.status = 'Active' and c.connector_status = 'Available'",
        0,
        timeout=30,
    )
    closed = await rows(
        db_engine,
        "select transaction_id, reason_stopped, closed_by, wh_meter_stop from transaction "
        "where transaction_id = any(:ids) order by transaction_id",
        ids=list(old),
    )
    expected = {
        tx: "Superseded" if again[c] else "Rebooted" for c, tx in zip(ids, old, strict=True)
    }
    assert {r["transaction_id"]: r["reason_stopped"] for r in closed} == expected
    assert {(r["closed_by"], r["wh_meter_stop"]) for r in closed} == {("csms", 1400)}
    assert await rows(
        db_engine, "select count(*) as n from transaction where status = 'Active'"
    ) == [{"n": 5}]
    # No tag is locked: each can start (Authorize) where it is not charging.
    async with connected(stack.ws_url, ids[1]) as cp:
        await cp.boot()
        for cp_id in ids:
            if not again[cp_id]:
                auth = await cp.authorize(tags[cp_id])
                assert auth.id_tag_info["status"] == "Accepted", cp_id
        # The StopTransaction of the first life, from the charger's offline queue: it
        # corrects the estimate, it makes no second transaction.
        await cp.stop_tx(old[1], 1450, reason="PowerLoss")
    await eventually(
        db_engine,
        "select reason_stopped || ' ' || estimated_reason_stopped from transaction "
        "where transaction_id = :t",
        "PowerLoss Rebooted",
        t=old[1],
    )
    assert await rows(db_engine, "select count(*) as n from transaction") == [{"n": STATIONS + 5}]


class StoppingClient(Client):
    """Obeys RemoteStopTransaction: stops the transaction right after answering."""

    background: ClassVar[set[asyncio.Task[Any]]] = set()

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> Any:
        task = asyncio.create_task(self._stop(transaction_id))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return call_result.RemoteStopTransaction(status="Accepted")

    async def _stop(self, transaction_id: int) -> None:
        await asyncio.sleep(0.05)  # after our CALLRESULT went out
        await self.stop_tx(transaction_id, 2500, reason="Remote")


async def post(api: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
    """POST; wait out the moments the api needs to connect its bus (503)."""
    for _ in range(100):
        resp = await api.post(url, **kw)
        if resp.status_code != 503:
            return resp
        await asyncio.sleep(0.1)
    return resp


async def test_operators_stop_through_the_charge_point_or_close_when_it_is_gone(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await add_limited_tag(db_engine, "TAG-OPS")
    async with connected(stack.ws_url, "CP-OPS-1", StoppingClient) as cp:
        await cp.boot()
        remote = (await cp.start_tx("TAG-OPS", connector=1, meter=1000)).transaction_id
        resp = await post(api, f"/api/v1/transactions/{remote}/stop")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "Accepted"
        assert resp.json()["action"] == "RemoteStopTransaction"
        await eventually(
            db_engine,
            "select reason_stopped from transaction where transaction_id = :t",
            "Remote",
            t=remote,
        )
        offline = (await cp.start_tx("TAG-OPS", connector=2, meter=3000)).transaction_id
    # Gone: the stop cannot reach it; the operator settles it instead.
    resp = await post(api, f"/api/v1/transactions/{offline}/stop")
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["code"] == "not_connected"
    resp = await post(
        api,
        f"/api/v1/transactions/{offline}/close",
        json={"reason": "charger unreachable", "meter_stop": 3100},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["reason_stopped"], body["closed_by"], body["energy_wh"]) == (
        "Administrative",
        "admin@example.com",
        100,
    )
    assert await rows(
        db_engine,
        "select action, outcome from command_log where chargepoint_id = 'CP-OPS-1' "
        "order by created_at",
    ) == [
        {"action": "RemoteStopTransaction", "outcome": "result"},
        {"action": "RemoteStopTransaction", "outcome": "offline"},
    ]


class Stopping201(Client201):
    """A 2.0.1 station that obeys RequestStopTransaction: answers, then sends its Ended."""

    background: ClassVar[set[asyncio.Task[Any]]] = set()

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        task = asyncio.create_task(self._end(transaction_id))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return call_result201.RequestStopTransaction(status="Accepted")

    async def _end(self, transaction_id: str) -> None:
        await asyncio.sleep(0.05)  # after our CALLRESULT went out
        await self.send(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp=ts201(3),
                trigger_reason="RemoteStop",
                seq_no=1,
                transaction_info={"transaction_id": transaction_id, "stopped_reason": "Remote"},
                meter_value=energy201(1047, 3, "Transaction.End"),
            )
        )


async def test_a_2_0_1_transaction_is_stopped_with_request_stop_transaction(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    async with websockets.connect(
        f"{stack.ws_url}/CP-OPS-201",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        cp = Stopping201("CP-OPS-201", ws)
        task = asyncio.create_task(cp.start())
        try:
            await cp.send(
                call201.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
                )
            )
            await cp.send(
                call201.TransactionEvent(
                    event_type="Started",
                    timestamp=ts201(1),
                    trigger_reason="CablePluggedIn",
                    seq_no=0,
                    transaction_info={"transaction_id": "ops-201"},
                    evse={"id": 1, "connector_id": 1},
                    meter_value=energy201(47, 1, "Transaction.Begin"),
                )
            )
            [row] = await rows(
                db_engine,
                "select transaction_id from transaction where remote_transaction_id = 'ops-201'",
            )
            resp = await post(api, f"/api/v1/transactions/{row['transaction_id']}/stop")
            assert resp.status_code == 200, resp.text
            assert (resp.json()["action"], resp.json()["status"]) == (
                "RequestStopTransaction",
                "Accepted",
            )
            await eventually(
                db_engine,
                "select reason_stopped from transaction where remote_transaction_id = 'ops-201'",
                "Remote",
            )
        finally:
            task.cancel()
