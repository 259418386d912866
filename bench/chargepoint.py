"""A lean simulated OCPP 1.6 charge point for load: raw frames, orjson, per-call latency."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

Latencies = dict[str, list[float]]


def now_iso() -> str:
    """The current UTC time as OCPP writes it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class SimChargePoint:
    """One charge point: sends a CALL, waits for its answer, records the latency."""

    _ids = itertools.count()

    def __init__(self, url: str, cp_id: str, latencies: Latencies) -> None:
        self.url = f"{url}/{cp_id}"
        self.cp_id = cp_id
        self.latencies = latencies
        self.ws: ClientConnection | None = None

    async def connect(self) -> None:
        """Open the websocket with the ocpp1.6 subprotocol."""
        self.ws = await connect(
            self.url,
            subprotocols=[Subprotocol("ocpp1.6")],
            compression=None,
            open_timeout=60,
        )

    async def close(self) -> None:
        """Close the websocket."""
        if self.ws is not None:
            await self.ws.close()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL and return the CALLRESULT payload (raises on CALLERROR)."""
        assert self.ws is not None
        uid = str(next(self._ids))
        start = time.perf_counter()
        await self.ws.send(orjson.dumps([2, uid, action, payload]).decode())
        while True:
            frame = orjson.loads(await self.ws.recv())
            if frame[0] == 2:  # a CALL from the central system: answer it generically
                await self.ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
                continue
            if frame[1] == uid:
                break
        self.latencies[action].append(time.perf_counter() - start)
        if frame[0] == 4:
            raise RuntimeError(f"{action}: CALLERROR {frame[2]} {frame[3]}")
        result: dict[str, Any] = frame[2]
        return result

    async def session(self, meter_values: int, id_tag: str) -> None:
        """Boot, two connector statuses, authorize, start, meter values, stop."""
        await self.call(
            "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "Sim-1"}
        )
        for connector in (1, 2):
            await self.call(
                "StatusNotification",
                {
                    "connectorId": connector,
                    "errorCode": "NoError",
                    "status": "Available",
                    "timestamp": now_iso(),
                },
            )
        await self.call("Authorize", {"idTag": id_tag})
        start = await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": id_tag, "meterStart": 0, "timestamp": now_iso()},
        )
        tx = start["transactionId"]
        for i in range(1, meter_values + 1):
            await self.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [
                        {
                            "timestamp": now_iso(),
                            "sampledValue": [
                                {
                                    "value": str(i * 100),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                },
                                {
                                    "value": "16.0",
                                    "measurand": "Current.Import",
                                    "unit": "A",
                                    "phase": "L1",
                                },
                            ],
                        }
                    ],
                },
            )
        await self.call(
            "StopTransaction",
            {
                "transactionId": tx,
                "meterStop": meter_values * 100,
                "timestamp": now_iso(),
                "reason": "EVDisconnected",
            },
        )


def new_latencies() -> Latencies:
    """An empty latency record keyed by action."""
    return defaultdict(list)
