"""A CALL resent by its charge point is stored once (issue 10, defect 1), end to end.

A charge point that lost an answer reconnects and resends the same frame (same unique id,
same payload). The gateway keys the envelope on what the charge point sent
(`shared.envelope.message_key`), so every service writes it once, whatever the connection or
gateway process it came through. A charger that restarted its unique-id counter sends new
content under an old id: that is another message, stored as such. Meter values are keyed by
their content (`shared.envelope.content_key`, set by the gateway), the rest by the message key.

Heartbeat is not among them: the gateway answers it itself and flushes the newest heartbeat
per charge point in batches, outside the message log (tests/e2e/test_heartbeats.py).

How a test knows the resend was consumed: RPC actions are answered after the service
committed; fire-and-forget ones are followed by a sentinel (the same action, another unique
id) on the same queue, consumed in order, and the test waits for the sentinel's row.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from shared.envelope import canonical_payload, content_key, message_key
from tests.e2e.test_ocpp16_session import eventually, rows

pytestmark = [pytest.mark.e2e]

V16, V201 = "ocpp1.6", "ocpp2.0.1"
T = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
BOOTS: dict[str, dict[str, Any]] = {
    V16: {"chargePointVendor": "E2E", "chargePointModel": "Idem"},
    V201: {"reason": "PowerUp", "chargingStation": {"model": "Idem", "vendorName": "E2E"}},
}
ENERGY16 = {"measurand": "Energy.Active.Import.Register", "unit": "Wh"}
ENERGY201 = {"measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}
REPORT = {
    "component": {"name": "OCPPCommCtrlr"},
    "variable": {"name": "HeartbeatInterval"},
    "variableAttribute": [{"value": "300"}],
}
TX_201 = "\"transaction\" where chargepoint_id = :cp and remote_transaction_id = 'idem-tx-1'"
EVENT = {
    "eventId": 1,
    "timestamp": T,
    "trigger": "Delta",
    "actualValue": "Available",
    "eventNotificationType": "HardWiredNotification",
    "component": {"name": "Connector"},
    "variable": {"name": "AvailabilityState"},
}


@dataclass(frozen=True)
class Case:
    """One charge-point-initiated action, and the rows its message key writes besides the
    message log (SQL counting rows of `:k`, the message key, and how many)."""

    version: str
    action: str
    payload: dict[str, Any]
    rpc: bool
    rows_sql: str | None = None
    rows: int = 1

    @property
    def id(self) -> str:
        return f"{self.version}-{self.action}"


CASES = [
    Case(V16, "BootNotification", BOOTS[V16], rpc=True),
    Case(
        V16,
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": T},
        rpc=False,
        rows_sql="status_notification where message_id = :k",
    ),
    Case(
        V16,
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": T,
                    "sampledValue": [{"value": "100", **ENERGY16}, {"value": "7", "unit": "A"}],
                }
            ],
        },
        rpc=False,
        rows_sql="meter_value where message_id = :k",
        rows=2,
    ),
    Case(V16, "Authorize", {"idTag": "IDEM-TAG"}, rpc=True),
    Case(
        V16,
        "StartTransaction",
        {"connectorId": 1, "idTag": "IDEM-TAG", "meterStart": 0, "timestamp": T},
        rpc=True,
        rows_sql='"transaction" where start_message_id = :k',
    ),
    Case(
        V16,
        "DataTransfer",
        {"vendorId": "ACME", "messageId": "m1", "data": "x"},
        rpc=True,
        rows_sql="data_transfer where message_id = :k",
    ),
    Case(V16, "FirmwareStatusNotification", {"status": "Downloading"}, rpc=False),
    Case(V16, "DiagnosticsStatusNotification", {"status": "Uploading"}, rpc=False),
    Case(
        V16,
        "SecurityEventNotification",
        {"type": "StartupOfTheDevice", "timestamp": T},
        rpc=False,
    ),
    Case(V16, "LogStatusNotification", {"status": "Uploading", "requestId": 1}, rpc=False),
    Case(
        V16,
        "SignedFirmwareStatusNotification",
        {"status": "Downloading", "requestId": 1},
        rpc=False,
    ),
    Case(V201, "BootNotification", BOOTS[V201], rpc=True),
    Case(
        V201,
        "StatusNotification",
        {"timestamp": T, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        rpc=False,
        rows_sql="status_notification where message_id = :k",
    ),
    Case(
        V201,
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [{"timestamp": T, "sampledValue": [{"value": 5, **ENERGY201}]}],
        },
        rpc=False,
        rows_sql="meter_value where message_id = :k",
    ),
    Case(V201, "Authorize", {"idToken": {"idToken": "IDEM-TAG", "type": "ISO14443"}}, rpc=True),
    Case(
        V201,
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": T,
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "idem-tx-1"},
            "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": "IDEM-TAG", "type": "ISO14443"},
            "meterValue": [{"timestamp": T, "sampledValue": [{"value": 10, **ENERGY201}]}],
        },
        rpc=True,
        rows_sql=TX_201,
    ),
    Case(
        V201,
        "NotifyReport",
        {"requestId": 1, "generatedAt": T, "seqNo": 0, "reportData": [REPORT]},
        rpc=False,
    ),
    Case(V201, "NotifyEvent", {"generatedAt": T, "seqNo": 0, "eventData": [EVENT]}, rpc=False),
    Case(
        V201,
        "DataTransfer",
        {"vendorId": "ACME", "messageId": "m1", "data": "x"},
        rpc=True,
        rows_sql="data_transfer where message_id = :k",
    ),
    Case(V201, "FirmwareStatusNotification", {"status": "Downloading"}, rpc=False),
    Case(V201, "LogStatusNotification", {"status": "Uploading", "requestId": 1}, rpc=False),
    Case(
        V201,
        "SecurityEventNotification",
        {"type": "StartupOfTheDevice", "timestamp": T},
        rpc=False,
    ),
]


@asynccontextmanager
async def socket(url: str, cp_id: str, version: str) -> AsyncIterator[Any]:
    async with websockets.connect(f"{url}/{cp_id}", subprotocols=[version]) as ws:  # type: ignore[list-item]
        yield ws


async def call(ws: Any, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
    """Send a CALL frame and return its answer (which must be a CALLRESULT). A CALL of the
    central system meanwhile (the registry's GetBaseReport after a 2.0.1 station's first
    Accepted boot) is answered NotImplemented, as a station without it would."""
    await ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
    answer: list[Any] = orjson.loads(await ws.recv())
    while answer[0] == 2:
        await ws.send(orjson.dumps([4, answer[1], "NotImplemented", "", {}]).decode())
        answer = orjson.loads(await ws.recv())
    assert answer[:2] == [3, unique_id], answer
    return answer


async def boot(url: str, cp_id: str, version: str) -> None:
    """Registered and Accepted (CSMS_UNKNOWN_CHARGEPOINTS=accept in the e2e stack)."""
    async with socket(url, cp_id, version) as ws:
        answer = await call(ws, "boot", "BootNotification", BOOTS[version])
    assert answer[2]["status"] == "Accepted"


async def calls_logged(engine: AsyncEngine, cp_id: str, unique_id: str) -> int:
    """The CALL rows of the message log for one unique id."""
    [row] = await rows(
        engine,
        "select count(*) as n from ocpp_message where chargepoint_id = :cp and unique_id = :u "
        "and direction = 'in' and message_type = 2",
        cp=cp_id,
        u=unique_id,
    )
    return int(row["n"])


async def settle(engine: AsyncEngine, url: str, cp_id: str, case: Case, unique_id: str) -> None:
    """Return once the services consumed everything sent for `unique_id` so far."""
    if case.rpc:
        return  # answered after the service committed
    sentinel = f"{unique_id}-next"
    async with socket(url, cp_id, case.version) as ws:
        await call(ws, sentinel, case.action, case.payload)
    await eventually(
        engine,
        "select count(*) from ocpp_message where chargepoint_id = :cp and unique_id = :u "
        "and direction = 'in'",
        1,
        cp=cp_id,
        u=sentinel,
    )


def row_key(cp_id: str, unique_id: str, case: Case, payload: dict[str, Any]) -> str:
    """The key of the rows a CALL writes: the message key, except meter values (keyed by
    content, so a retry as a new CALL after a CALLERROR stores nothing twice)."""
    if case.action == "MeterValues":
        return content_key(cp_id, case.action, canonical_payload(payload))
    return message_key(cp_id, unique_id, case.action, payload)


async def assert_stored_once(engine: AsyncEngine, cp_id: str, case: Case, unique_id: str) -> None:
    assert await calls_logged(engine, cp_id, unique_id) == 1
    if case.rows_sql is not None:
        key = row_key(cp_id, unique_id, case, case.payload)
        [row] = await rows(engine, f"select count(*) as n from {case.rows_sql}", k=key, cp=cp_id)
        assert row["n"] == case.rows, case.rows_sql


def new_id(case: Case) -> str:
    return f"CP-IDEM-{case.version[4:]}-{case.action[:20]}-{uuid.uuid4().hex[:6]}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_call_resent_after_a_reconnect_is_stored_once(
    stack: Stack, db_engine: AsyncEngine, case: Case
) -> None:
    cp_id = new_id(case)
    await boot(stack.ws_url, cp_id, case.version)
    for _ in range(2):  # the answer "lost": the charge point reconnects and resends
        async with socket(stack.ws_url, cp_id, case.version) as ws:
            await call(ws, "42", case.action, case.payload)
    await settle(db_engine, stack.ws_url, cp_id, case, "42")
    await assert_stored_once(db_engine, cp_id, case, "42")


RESTART_CASES = [c for c in CASES if c.action in ("MeterValues", "StatusNotification")] + [
    c for c in CASES if c.action in ("StartTransaction", "TransactionEvent")
]


@pytest.mark.parametrize("case", RESTART_CASES, ids=[c.id for c in RESTART_CASES])
async def test_a_call_resent_to_a_new_gateway_process_is_stored_once(
    stack: Stack, db_engine: AsyncEngine, case: Case
) -> None:
    cp_id = new_id(case)
    await boot(stack.ws_url, cp_id, case.version)
    first = f"gw-idem-{uuid.uuid4().hex[:8]}"
    port = await stack.start_gateway(first)
    try:
        async with socket(f"ws://127.0.0.1:{port}/ocpp", cp_id, case.version) as ws:
            await call(ws, "7", case.action, case.payload)
            await stack.kill(first)  # kill -9 with the socket open
    finally:
        if first in stack.procs:
            await stack.kill(first)
    second = f"gw-idem-{uuid.uuid4().hex[:8]}"  # another process, another node id
    port = await stack.start_gateway(second)
    try:
        url = f"ws://127.0.0.1:{port}/ocpp"
        async with socket(url, cp_id, case.version) as ws:
            await call(ws, "7", case.action, case.payload)
        await settle(db_engine, url, cp_id, case, "7")
    finally:
        await stack.stop(second)
    await assert_stored_once(db_engine, cp_id, case, "7")


COUNTER_RESET = [c for c in CASES if c.action in ("MeterValues", "StatusNotification")]


@pytest.mark.parametrize("case", COUNTER_RESET, ids=[c.id for c in COUNTER_RESET])
async def test_a_charger_that_restarted_its_counter_is_stored_twice(
    stack: Stack, db_engine: AsyncEngine, case: Case
) -> None:
    # Same unique id, new content (another reading, a later status): another message.
    cp_id = new_id(case)
    await boot(stack.ws_url, cp_id, case.version)
    later = orjson.loads(orjson.dumps(case.payload).replace(T.encode(), b"2030-01-01T00:00:00Z"))
    for payload in (case.payload, later):
        async with socket(stack.ws_url, cp_id, case.version) as ws:
            await call(ws, "1", case.action, payload)
    await settle(db_engine, stack.ws_url, cp_id, case, "1")
    assert await calls_logged(db_engine, cp_id, "1") == 2
    for payload in (case.payload, later):
        assert await assert_rows(db_engine, cp_id, case, "1", payload) == case.rows


async def assert_rows(
    engine: AsyncEngine, cp_id: str, case: Case, unique_id: str, payload: dict[str, Any]
) -> int:
    assert case.rows_sql is not None
    key = row_key(cp_id, unique_id, case, payload)
    [row] = await rows(engine, f"select count(*) as n from {case.rows_sql}", k=key, cp=cp_id)
    return int(row["n"])


async def test_a_stop_transaction_resent_after_a_reconnect_is_stored_once(
    stack: Stack, db_engine: AsyncEngine
) -> None:
    cp_id = f"CP-IDEM-16-Stop-{uuid.uuid4().hex[:6]}"
    await boot(stack.ws_url, cp_id, V16)
    start = {"connectorId": 1, "idTag": "IDEM-TAG", "meterStart": 0, "timestamp": T}
    async with socket(stack.ws_url, cp_id, V16) as ws:
        tx = (await call(ws, "start", "StartTransaction", start))[2]["transactionId"]
    stop = {"transactionId": tx, "meterStop": 500, "timestamp": T, "reason": "Local"}
    for _ in range(2):
        async with socket(stack.ws_url, cp_id, V16) as ws:
            await call(ws, "9", "StopTransaction", stop)
    assert await calls_logged(db_engine, cp_id, "9") == 1
    [row] = await rows(
        db_engine,
        'select stop_message_id, wh_meter_stop from "transaction" where transaction_id = :t',
        t=tx,
    )
    assert row == {
        "stop_message_id": message_key(cp_id, "9", "StopTransaction", stop),
        "wh_meter_stop": 500,
    }
