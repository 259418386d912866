"""Registration status enforced end to end (issue 10, defect 4): library charge points ->
gateway -> registry / transactions -> Postgres, the operator acting through the REST API.

A charge point answered Pending or Rejected at boot gets nothing but BootNotification through
(SecurityError, nothing stored); while Pending, what the central system triggers goes
through (1.6 §4.2); an operator who accepts it through the API lets it in at its next boot;
an Accepted one that reconnects without booting keeps working.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.ocpp16_client import Client, connected
from tests.e2e.test_ocpp16_commands import command
from tests.e2e.test_ocpp16_session import add_tag, eventually, rows

pytestmark = [pytest.mark.e2e]


def new_id(name: str) -> str:
    return f"CP-REG-{name}-{uuid.uuid4().hex[:6]}"


async def set_status(api: httpx.AsyncClient, cp_id: str, status: str) -> None:
    """The operator changes the registration status through the API."""
    resp = await api.patch(f"/api/v1/chargepoints/{cp_id}", json={"registration_status": status})
    assert resp.status_code == 200, resp.text
    assert resp.json()["registration_status"] == status


async def security_error(pending: Any) -> OCPPError:
    with pytest.raises(OCPPError) as info:
        await pending
    assert info.value.code == "SecurityError", info.value
    return info.value


async def count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    [row] = await rows(engine, f"select count(*) as n from {sql}", **params)
    return int(row["n"])


async def test_pending_until_the_operator_accepts_it(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = new_id("pending")
    await add_tag(db_engine, "REG-TAG")
    async with connected(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"  # CSMS_UNKNOWN_CHARGEPOINTS=accept
    await set_status(api, cp_id, "Pending")  # the operator wants a word first
    async with connected(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Pending"
        await security_error(cp.start_tx("REG-TAG"))
        await security_error(cp.status(1))
        await security_error(cp.authorize("REG-TAG"))
        await set_status(api, cp_id, "Accepted")
        # Accepted in the database, but this charge point was told Pending: it boots again
        # after the interval (1.6 §4.2), until then nothing else goes through.
        await security_error(cp.status(1))
        assert (await cp.boot()).status == "Accepted"
        start = await cp.start_tx("REG-TAG")
        assert start.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Charging")
    [tx] = await rows(db_engine, 'select * from "transaction" where chargepoint_id = :cp', cp=cp_id)
    assert tx["transaction_id"] == start.transaction_id
    await eventually(
        db_engine,
        "select count(*) from status_notification where chargepoint_id = :cp",
        1,
        cp=cp_id,
    )
    # The refused CALLs are in the message log with their SecurityError, nothing else is.
    # (Frame-log events are published concurrently: their order in the table is not theirs.)
    refused = await rows(
        db_engine,
        "select action, error_code from ocpp_message where chargepoint_id = :cp "
        "and direction = 'out' and message_type = 4 order by id",
        cp=cp_id,
    )
    assert sorted((r["action"], r["error_code"]) for r in refused) == [
        ("Authorize", "SecurityError"),
        ("StartTransaction", "SecurityError"),
        ("StatusNotification", "SecurityError"),
        ("StatusNotification", "SecurityError"),
    ]


async def test_rejected_gets_nothing_stored(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = new_id("rejected")
    async with connected(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
    await set_status(api, cp_id, "Rejected")
    async with connected(stack.ws_url, cp_id) as cp:
        # Known as Rejected at connect time: refused even before it boots.
        await security_error(cp.status(1))
        assert (await cp.boot()).status == "Rejected"
        await security_error(cp.start_tx("ANY-TAG"))
        await security_error(cp.meter(1, 100))
    assert await count(db_engine, '"transaction" where chargepoint_id = :cp', cp=cp_id) == 0
    assert await count(db_engine, "status_notification where chargepoint_id = :cp", cp=cp_id) == 0
    assert await count(db_engine, "meter_value where chargepoint_id = :cp", cp=cp_id) == 0


async def test_an_unknown_charge_point_must_boot_first(
    stack: Stack, db_engine: AsyncEngine
) -> None:
    cp_id = new_id("unknown")
    async with connected(stack.ws_url, cp_id) as cp:
        await security_error(cp.start_tx("ANY-TAG"))
        await security_error(cp.send(call.Heartbeat()))
    assert await count(db_engine, '"transaction" where chargepoint_id = :cp', cp=cp_id) == 0
    assert await count(db_engine, "heartbeat where chargepoint_id = :cp", cp=cp_id) == 0
    async with connected(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
        await cp.send(call.Heartbeat())
    await eventually(
        db_engine, "select count(*) from heartbeat where chargepoint_id = :cp", 1, cp=cp_id
    )


async def test_an_accepted_charge_point_reconnects_without_booting(
    stack: Stack, db_engine: AsyncEngine
) -> None:
    cp_id = new_id("reconnect")
    async with connected(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
    for connector in (1, 2):  # a network drop: it reconnects and goes on, no boot
        async with connected(stack.ws_url, cp_id) as cp:
            await cp.status(connector)
    await eventually(
        db_engine,
        "select count(*) from status_notification where chargepoint_id = :cp",
        2,
        cp=cp_id,
    )


class TriggeredClient(Client):
    """Answers TriggerMessage Accepted, then sends the status it was asked for (§5.17)."""

    background: set[asyncio.Task[Any]]

    @on(Action.trigger_message)
    async def on_trigger(self, requested_message: str, **_: Any) -> Any:
        if not hasattr(self, "background"):
            self.background = set()
        task = asyncio.create_task(self._triggered(requested_message))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return call_result.TriggerMessage(status="Accepted")

    async def _triggered(self, requested: str) -> None:
        await asyncio.sleep(0.05)  # after our CALLRESULT went out
        assert requested == "StatusNotification"
        await self.status(1, "Preparing")


async def test_a_pending_charge_point_sends_what_the_operator_triggers(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = new_id("trigger")
    async with connected(stack.ws_url, cp_id) as cp:
        assert (await cp.boot()).status == "Accepted"
    await set_status(api, cp_id, "Pending")
    async with connected(stack.ws_url, cp_id, TriggeredClient) as cp:
        assert (await cp.boot()).status == "Pending"
        await security_error(cp.status(1))
        resp = await command(
            api,
            cp_id,
            "trigger-message",
            {"requested_message": "StatusNotification", "connector_id": 1},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"status": "Accepted"}
        await eventually(
            db_engine,
            "select status from status_notification where chargepoint_id = :cp",
            "Preparing",
            cp=cp_id,
        )
        await security_error(cp.meter(1, 100))  # not what was asked for
