"""Authorization end to end (2.0.1 C01-C16 and the 1.6 local list), and the 2.0.1
transaction triggers: id token types, groupIdToken, MasterPass, the local list built from
the id tags (full and differential, both versions), RequestStartTransaction with a
TxProfile, trigger and stop reasons in the transaction API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import call_result as call_result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.ocpp16_client import Client
from tests.e2e.ocpp16_client import connected as connected16
from tests.e2e.test_ocpp16_session import eventually
from tests.e2e.test_ocpp201_commands import Station, now

pytestmark = [pytest.mark.e2e]


class ListStation(Station):
    """A 2.0.1 station that accepts local lists (and keeps them)."""

    lists: list[dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lists = []

    @on(Action.send_local_list)
    async def on_send_local_list(self, version_number: int, update_type: str, **kw: Any) -> Any:
        self.lists.append({"version_number": version_number, "update_type": update_type, **kw})
        return call_result.SendLocalList(status="Accepted")


class ListClient(Client):
    """A 1.6 charge point that accepts local lists (and keeps them)."""

    lists: list[dict[str, Any]]

    @on(Action16.send_local_list)
    async def on_send_local_list(self, list_version: int, update_type: str, **kw: Any) -> Any:
        self.lists.append({"list_version": list_version, "update_type": update_type, **kw})
        return call_result16.SendLocalList(status="Accepted")


@asynccontextmanager
async def connected(ws_url: str, cp_id: str) -> AsyncIterator[ListStation]:
    async with websockets.connect(
        f"{ws_url}/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        station = ListStation(cp_id, ws)
        task = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            task.cancel()


async def tag(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await api.post("/api/v1/idtags", json=body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def send_list(api: httpx.AsyncClient, cp_id: str, update_type: str) -> dict[str, Any]:
    resp = await api.post(
        f"/api/v1/chargepoints/{cp_id}/local-list", json={"update_type": update_type}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Command-Id"]
    result: dict[str, Any] = resp.json()
    return result


async def held(api: httpx.AsyncClient, cp_id: str) -> dict[str, str]:
    resp = await api.get(f"/api/v1/chargepoints/{cp_id}/local-list")
    assert resp.status_code == 200, resp.text
    return {e["id_token"]: e["info"]["status"] for e in resp.json()}


async def wait_held(api: httpx.AsyncClient, cp_id: str, expected: dict[str, str]) -> None:
    """The registry records the accepted list asynchronously (command effects)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    current: dict[str, str] = {}
    while loop.time() < deadline:
        current = await held(api, cp_id)
        if current == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"held {current}, expected {expected}")


async def test_201_token_types_groups_master_pass_and_triggers(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP-AUTH-201"
    await tag(api, id_token="GROUP-MP", master_pass=True)
    await tag(api, id_token="MP-1", parent_id_tag="GROUP-MP")
    await tag(api, id_token="TAG-TYPED", token_type="ISO15693")
    await tag(api, id_token="TAG-LIMITED", max_active_transactions=1)
    async with connected(stack.ws_url, cp_id) as cp:
        await cp.boot()
        await cp.status(1)

        async def authorize(token: str, type_: str) -> dict[str, Any]:
            answer = await cp.send(call.Authorize(id_token={"id_token": token, "type": type_}))
            info: dict[str, Any] = answer.id_token_info
            return info

        # C01: the type is part of the token.
        assert (await authorize("TAG-TYPED", "ISO14443"))["status"] == "Invalid"
        assert (await authorize("TAG-TYPED", "ISO15693"))["status"] == "Accepted"
        assert (await authorize("ANYTHING", "NoAuthorization"))["status"] == "Accepted"
        # C16: a MasterPass member gets its group as groupIdToken.
        master = await authorize("MP-1", "ISO14443")
        assert master["status"] == "Accepted"
        assert master["group_id_token"] == {"id_token": "GROUP-MP", "type": "Central"}

        # E: a transaction started by TAG-LIMITED, stopped by the MasterPass token.
        started = await cp.send(
            call.TransactionEvent(
                event_type="Started",
                timestamp=now(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": "auth-tx-1", "charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "TAG-LIMITED", "type": "ISO14443"},
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        # The limited tag has its one open transaction; the MasterPass token has no limit.
        assert (await authorize("TAG-LIMITED", "ISO14443"))["status"] == "ConcurrentTx"
        ended = await cp.send(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=now(),
                trigger_reason="StopAuthorized",
                seq_no=1,
                transaction_info={"transaction_id": "auth-tx-1", "stopped_reason": "Local"},
                id_token={"id_token": "MP-1", "type": "ISO14443"},
            )
        )
        assert ended.id_token_info["status"] == "Accepted"
        assert ended.id_token_info["group_id_token"]["id_token"] == "GROUP-MP"
        await eventually(
            db_engine,
            "select status from transaction where remote_transaction_id='auth-tx-1'",
            "Completed",
        )
    found = await api.get("/api/v1/transactions", params={"chargepoint_id": cp_id})
    assert found.status_code == 200, found.text
    [tx] = found.json()["items"]
    assert tx["trigger_reason"] == "Authorized"
    assert tx["stop_trigger_reason"] == "StopAuthorized"
    assert tx["reason_stopped"] == "Local"
    assert tx["id_tag_stop"] == "MP-1"


async def test_201_local_list_full_then_differential(stack: Stack, api: httpx.AsyncClient) -> None:
    cp_id = "CP-LIST-201"
    await tag(api, id_token="GROUP-A")
    await tag(api, id_token="L-1", parent_id_tag="GROUP-A", token_type="ISO15693")
    await tag(api, id_token="L-2")
    await tag(api, id_token="L-GONE")
    async with connected(stack.ws_url, cp_id) as cp:
        await cp.boot()
        full = await send_list(api, cp_id, "Full")
        assert full == {
            "update_type": "Full",
            "list_version": 1,
            "entries": 4,
            "removed": 0,
            "status": "Accepted",
            "messages": 1,
        }
        sent = cp.lists[-1]
        assert sent["version_number"] == 1 and sent["update_type"] == "Full"
        by_token = {e["id_token"]["id_token"]: e for e in sent["local_authorization_list"]}
        assert by_token["L-1"]["id_token"]["type"] == "ISO15693"
        assert by_token["L-2"]["id_token"]["type"] == "ISO14443"  # no type: the default
        assert by_token["L-1"]["id_token_info"]["group_id_token"] == {
            "id_token": "GROUP-A",
            "type": "Central",
        }
        await wait_held(
            api,
            cp_id,
            {"GROUP-A": "Accepted", "L-1": "Accepted", "L-2": "Accepted", "L-GONE": "Accepted"},
        )

        # Changes since version 1: a new tag, a revoked one, a deleted one.
        await tag(api, id_token="L-NEW")
        assert (await api.patch("/api/v1/idtags/L-2", json={"revoked": True})).status_code == 200
        assert (await api.delete("/api/v1/idtags/L-GONE")).status_code == 204
        diff = await send_list(api, cp_id, "Differential")
        assert diff["list_version"] == 2 and diff["entries"] == 3 and diff["removed"] == 1
        sent = cp.lists[-1]
        assert sent["version_number"] == 2 and sent["update_type"] == "Differential"
        entries = {
            e["id_token"]["id_token"]: e.get("id_token_info", {}).get("status")
            for e in sent["local_authorization_list"]
        }
        assert entries == {"L-NEW": "Accepted", "L-2": "Blocked", "L-GONE": None}
        await wait_held(
            api,
            cp_id,
            {"GROUP-A": "Accepted", "L-1": "Accepted", "L-2": "Blocked", "L-NEW": "Accepted"},
        )
        # Nothing changed since: a differential update carries no entry.
        empty = await send_list(api, cp_id, "Differential")
        assert empty["list_version"] == 3 and empty["entries"] == 0
        assert "local_authorization_list" not in cp.lists[-1]


async def test_16_local_list_full_then_differential(stack: Stack, api: httpx.AsyncClient) -> None:
    cp_id = "CP-LIST-16"
    await tag(api, id_token="P-1")
    await tag(api, id_token="P-2", parent_id_tag="P-1")
    async with connected16(stack.ws_url, cp_id, ListClient) as cp:
        cp.lists = []
        await cp.boot()
        full = await send_list(api, cp_id, "Full")
        assert full["list_version"] == 1 and full["entries"] == 2
        sent = cp.lists[-1]
        assert sent["list_version"] == 1 and sent["update_type"] == "Full"
        assert {e["id_tag"]: e["id_tag_info"] for e in sent["local_authorization_list"]} == {
            "P-1": {"status": "Accepted"},
            "P-2": {"status": "Accepted", "parent_id_tag": "P-1"},
        }
        await wait_held(api, cp_id, {"P-1": "Accepted", "P-2": "Accepted"})
        await tag(api, id_token="P-3")
        diff = await send_list(api, cp_id, "Differential")
        assert diff["list_version"] == 2 and diff["entries"] == 1
        assert cp.lists[-1]["local_authorization_list"] == [
            {"id_tag": "P-3", "id_tag_info": {"status": "Accepted"}}
        ]
        await wait_held(api, cp_id, {"P-1": "Accepted", "P-2": "Accepted", "P-3": "Accepted"})
        # A station taking 2 entries per message: a Full of 2, then a Differential of 1.
        resp = await api.post(
            f"/api/v1/chargepoints/{cp_id}/local-list",
            json={"update_type": "Full", "max_items": 2},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {
            "update_type": "Full",
            "list_version": 4,
            "entries": 3,
            "removed": 0,
            "status": "Accepted",
            "messages": 2,
        }
        first, second = cp.lists[-2:]
        assert (first["update_type"], first["list_version"]) == ("Full", 3)
        assert (second["update_type"], second["list_version"]) == ("Differential", 4)
        assert len(first["local_authorization_list"]) == 2
        assert len(second["local_authorization_list"]) == 1
        await wait_held(api, cp_id, {"P-1": "Accepted", "P-2": "Accepted", "P-3": "Accepted"})


async def test_request_start_with_a_tx_profile(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """F01 + K05: the IdToken and the TxProfile reach the station; the started transaction
    records trigger RemoteStart and the profile is stored against it."""
    cp_id = "CP-RS-201"
    await tag(api, id_token="RS-TAG")
    async with connected(stack.ws_url, cp_id) as cp:
        await cp.boot()
        await cp.status(1)
        resp = await api.post(
            f"/api/v1/chargepoints/{cp_id}/commands/request-start-transaction",
            json={
                "id_token": {"id_token": "RS-TAG", "type": "ISO14443"},
                "remote_start_id": 77,
                "evse_id": 1,
                "charging_profile": {
                    "id": 4242,
                    "stack_level": 0,
                    "charging_profile_purpose": "TxProfile",
                    "charging_profile_kind": "Relative",
                    "charging_schedule": [
                        {
                            "id": 1,
                            "charging_rate_unit": "A",
                            "charging_schedule_period": [{"start_period": 0, "limit": 13}],
                        }
                    ],
                },
            },
        )
        assert resp.status_code == 200, resp.text
        [(action, received)] = cp.received
        assert action == "RequestStartTransaction"
        assert received["charging_profile"]["id"] == 4242
        await eventually(
            db_engine,
            "select status || ':' || trigger_reason from transaction"
            f" where chargepoint_id='{cp_id}' and remote_start_id=77",
            "Active:RemoteStart",
        )
        await eventually(
            db_engine,
            "select p.chargingprofile_purpose || ':' || (p.chargingschedule_period[1]->>'limit')"
            " || ':' || i.status from charging_profile p join charging_profile_installation i"
            " using (chargingprofile_id) where p.chargingprofile_id=4242",
            "TxProfile:13.0:Installed",
        )
