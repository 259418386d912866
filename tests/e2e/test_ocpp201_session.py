"""OCPP 2.0.1 end to end: the library's v201 charge point -> gateway -> services -> Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import websockets
from ocpp.v201 import ChargePoint, call
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack
from tests.e2e.test_ocpp16_session import add_tag, eventually, rows

pytestmark = [pytest.mark.e2e]

CP_ID = "CP-E2E-201"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def ts(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


class Client(ChargePoint):  # type: ignore[misc]
    async def send(self, payload: Any) -> Any:
        """Call and raise on CALLERROR."""
        return await self.call(payload, suppress=False)


@asynccontextmanager
async def connected(ws_url: str, cp_id: str) -> AsyncIterator[Client]:
    async with websockets.connect(
        f"{ws_url}/{cp_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        client = Client(cp_id, ws)
        task = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            task.cancel()


def energy(wh: int, minutes: int, context: str) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": ts(minutes),
            "sampled_value": [
                {
                    "value": wh,
                    "measurand": "Energy.Active.Import.Register",
                    "context": context,
                    "unit_of_measure": {"unit": "Wh"},
                }
            ],
        }
    ]


TOKEN = {"id_token": "TAG-201", "type": "ISO14443"}


async def test_full_2_0_1_session_is_persisted(
    stack: Stack, db_engine: AsyncEngine, clean_db: None
) -> None:
    await add_tag(db_engine, "TAG-201")
    async with connected(stack.ws_url, CP_ID) as cp:
        boot = await cp.send(
            call.BootNotification(
                charging_station={
                    "model": "Model-201",
                    "vendor_name": "E2E-201",
                    "serial_number": "SN-9",
                    "modem": {"iccid": "89", "imsi": "26"},
                },
                reason="PowerUp",
            )
        )
        assert boot.status == "Accepted" and boot.interval > 0
        await cp.send(call.Heartbeat())
        await cp.send(
            call.StatusNotification(
                timestamp=ts(0), connector_status="Available", evse_id=1, connector_id=1
            )
        )
        auth = await cp.send(call.Authorize(id_token=TOKEN))
        assert auth.id_token_info["status"] == "Accepted"
        started = await cp.send(
            call.TransactionEvent(
                event_type="Started",
                timestamp=ts(1),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": "e2e-tx-1", "charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1},
                id_token=TOKEN,
                meter_value=energy(1000, 1, "Transaction.Begin"),
            )
        )
        assert started.id_token_info["status"] == "Accepted"
        await cp.send(
            call.StatusNotification(
                timestamp=ts(1), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        for i, wh in enumerate((1100, 1250), start=1):
            updated = await cp.send(
                call.TransactionEvent(
                    event_type="Updated",
                    timestamp=ts(1 + i),
                    trigger_reason="MeterValuePeriodic",
                    seq_no=i,
                    transaction_info={"transaction_id": "e2e-tx-1"},
                    meter_value=energy(wh, 1 + i, "Sample.Periodic"),
                )
            )
            assert updated.id_token_info is None
        await cp.send(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=ts(5),
                trigger_reason="EVCommunicationLost",
                seq_no=3,
                transaction_info={"transaction_id": "e2e-tx-1", "stopped_reason": "EVDisconnected"},
                meter_value=energy(1500, 5, "Transaction.End"),
            )
        )

    [cp_row] = await rows(db_engine, "select * from chargepoint where chargepoint_id=:c", c=CP_ID)
    assert (cp_row["chargepoint_vendor"], cp_row["chargepoint_model"]) == ("E2E-201", "Model-201")
    assert (cp_row["iccid"], cp_row["imsi"]) == ("89", "26")
    assert cp_row["ocpp_version"] == "ocpp2.0.1"
    assert cp_row["registration_status"] == "Accepted"
    [tx] = await rows(db_engine, "select * from transaction")
    assert tx["chargepoint_id"] == CP_ID
    assert tx["remote_transaction_id"] == "e2e-tx-1"
    assert (tx["connectorid"], tx["id_tag"], tx["status"]) == (1, "TAG-201", "Completed")
    assert (tx["wh_meter_start"], tx["wh_meter_last"], tx["wh_meter_stop"]) == (1000, 1500, 1500)
    assert tx["reason_stopped"] == "EVDisconnected"
    assert tx["start_transaction_timestamp"] == T0 + timedelta(minutes=1)
    assert tx["stop_transaction_timestamp"] == T0 + timedelta(minutes=5)
    values = await rows(
        db_engine,
        "select value_numeric, context, connectorid, transaction_id from meter_value "
        "where chargepoint_id=:c order by timestamp",
        c=CP_ID,
    )
    assert [v["value_numeric"] for v in values] == [Decimal(w) for w in (1000, 1100, 1250, 1500)]
    assert [v["context"] for v in values] == [
        "Transaction.Begin",
        "Sample.Periodic",
        "Sample.Periodic",
        "Transaction.End",
    ]
    assert {(v["connectorid"], v["transaction_id"]) for v in values} == {(1, tx["transaction_id"])}
    # Fire-and-forget messages are written by the registry asynchronously.
    await eventually(
        db_engine,
        "select connector_status from connector where chargepoint_id=:c and connectorid=1",
        "Occupied",
        c=CP_ID,
    )
    await eventually(
        db_engine, "select count(*) from status_notification where chargepoint_id=:c", 2, c=CP_ID
    )
    await eventually(
        db_engine, "select count(*) from heartbeat where chargepoint_id=:c", 1, c=CP_ID
    )
    # boot, 2 status, authorize, 4 transaction events: each CALL and its answer (the
    # heartbeat is answered by the gateway and kept out of the message log).
    for direction in ("in", "out"):
        await eventually(
            db_engine,
            "select count(*) from ocpp_message where chargepoint_id=:c and direction=:d",
            8,
            c=CP_ID,
            d=direction,
        )
