"""Heartbeats through the real stack: answered by the gateway, last-seen flushed to the
registry in batches (services/gateway/heartbeats.py, CSMS_GATEWAY_HEARTBEAT_BATCH_SECONDS)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from shared.envelope import message_key
from tests.e2e.test_ocpp16_session import eventually, rows

pytestmark = [pytest.mark.e2e]

BOOT = {"chargePointVendor": "E2E", "chargePointModel": "Beat"}


async def call(url: str, cp_id: str, unique_id: str, action: str, payload: object) -> list[object]:
    async with websockets.connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
        answer: list[object] = orjson.loads(await ws.recv())
    assert answer[:2] == [3, unique_id], answer
    return answer


async def test_heartbeats_set_last_seen_and_a_resent_one_is_stored_once(
    stack: Stack, db_engine: AsyncEngine
) -> None:
    cp_id = f"CP-BEAT-{uuid.uuid4().hex[:8]}"
    await call(stack.ws_url, cp_id, "boot", "BootNotification", BOOT)
    before = datetime.now(UTC)
    answer = await call(stack.ws_url, cp_id, "42", "Heartbeat", {})
    assert isinstance(answer[2], dict) and str(answer[2]["currentTime"]).endswith("Z")
    key = message_key(cp_id, "42", "Heartbeat", {})
    # The registry has it within the gateway's flush interval (and its consumer's batch).
    await eventually(db_engine, "select count(*) from heartbeat where message_id = :k", 1, k=key)
    [row] = await rows(
        db_engine, "select last_heartbeat from chargepoint where chargepoint_id = :cp", cp=cp_id
    )
    assert row["last_heartbeat"] >= before.replace(microsecond=0)
    # The answer was lost: the charge point resends it (same id), then beats on.
    await call(stack.ws_url, cp_id, "42", "Heartbeat", {})
    await call(stack.ws_url, cp_id, "43", "Heartbeat", {})
    later = message_key(cp_id, "43", "Heartbeat", {})
    await eventually(db_engine, "select count(*) from heartbeat where message_id = :k", 1, k=later)
    [again] = await rows(
        db_engine, "select count(*) as n from heartbeat where message_id = :k", k=key
    )
    assert again["n"] == 1
    [moved] = await rows(
        db_engine, "select last_heartbeat from chargepoint where chargepoint_id = :cp", cp=cp_id
    )
    assert moved["last_heartbeat"] >= row["last_heartbeat"]
    # Not in the message log: the gateway answered them itself.
    [logged] = await rows(
        db_engine,
        "select count(*) as n from ocpp_message"
        " where chargepoint_id = :cp and action = 'Heartbeat'",
        cp=cp_id,
    )
    assert logged["n"] == 0
