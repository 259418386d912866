"""A lean simulated OCPP 1.6 charge point for load: raw frames, orjson, one reader task.

Calls are answered by uid through futures, so a charge point can wait on its own CALL and
answer the central system's CALLs (commands) at the same time. A failed call raises
`CallFailed` with a code (the CALLERROR code, `Timeout`, `ConnectionClosed`): the phases count
codes, they never stop on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from bench.report import PhaseResult
from services.gateway.auth import basic_authorization

BOOT = {"chargePointVendor": "Bench", "chargePointModel": "Sim-1"}


def now_iso() -> str:
    """The current UTC time as OCPP writes it."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class CallFailed(Exception):
    """A call that got no CALLRESULT; `code` is what the tables count."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code} {detail}".strip())
        self.code = code


def meter_values_payload(tx: int, i: int) -> dict[str, Any]:
    """A MeterValues request with two sampled values (energy register, current)."""
    return {
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
                    {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                ],
            }
        ],
    }


class SimChargePoint:
    """One charge point on one websocket."""

    _ids = itertools.count()

    def __init__(
        self, url: str, cp_id: str, *, timeout: float = 60.0, password: str | None = None
    ) -> None:
        self.url = f"{url}/{cp_id}"
        self.cp_id = cp_id
        self.timeout = timeout
        # HTTP Basic credentials (security profile 1) when given.
        self.headers = (
            {"Authorization": basic_authorization(cp_id, password)} if password is not None else {}
        )
        self.ws: ClientConnection | None = None
        self.pending: dict[str, asyncio.Future[list[Any]]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.commands_answered = 0

    async def connect(self) -> None:
        """Open the websocket with the ocpp1.6 subprotocol (CallFailed when refused)."""
        try:
            self.ws = await connect(
                self.url,
                subprotocols=[Subprotocol("ocpp1.6")],
                compression=None,
                open_timeout=self.timeout,
                additional_headers=self.headers,
            )
        except InvalidStatus as exc:
            raise CallFailed(f"HTTP{exc.response.status_code}") from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise CallFailed("ConnectFailed", repr(exc)) from exc
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                if frame[0] == 2:  # a CALL from the central system (a command): accept it
                    self.commands_answered += 1
                    await self.ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
                    continue
                fut = self.pending.pop(frame[1], None)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
        except ConnectionClosed:
            pass
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(CallFailed("ConnectionClosed"))
            self.pending.clear()

    async def close(self) -> None:
        """Close the websocket (and its reader)."""
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await self.reader

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL and return its CALLRESULT payload; CallFailed otherwise."""
        if self.ws is None or self.reader is None or self.reader.done():
            raise CallFailed("ConnectionClosed")
        uid = str(next(self._ids))
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.pending[uid] = fut
        try:
            await self.ws.send(orjson.dumps([2, uid, action, payload]).decode())
            frame = await asyncio.wait_for(fut, self.timeout)
        except TimeoutError as exc:
            raise CallFailed("Timeout") from exc
        except ConnectionClosed as exc:
            raise CallFailed("ConnectionClosed") from exc
        finally:
            self.pending.pop(uid, None)
        if frame[0] == 4:
            raise CallFailed(str(frame[2]), str(frame[3]))
        result: dict[str, Any] = frame[2]
        return result

    async def timed(
        self,
        result: PhaseResult | None,
        action: str,
        payload: dict[str, Any],
        since: float | None = None,
    ) -> dict[str, Any] | None:
        """`call`, its latency (from `since`, a perf_counter time, when given: an open loop's
        scheduled send time) or its error code recorded in `result`; None when it failed."""
        start = time.perf_counter() if since is None else since
        try:
            answer = await self.call(action, payload)
        except CallFailed as exc:
            if result is not None:
                result.errors[exc.code] += 1
            return None
        if result is not None:
            result.latencies.append(time.perf_counter() - start)
        return answer

    async def boot(self, result: PhaseResult | None = None) -> bool:
        answer = await self.timed(result, "BootNotification", BOOT)
        return answer is not None and answer.get("status") == "Accepted"

    async def start_transaction(self, id_tag: str) -> int | None:
        """Boot, authorize, start on connector 1: the transaction id (None if refused)."""
        if not await self.boot():
            return None
        start = await self.timed(
            None,
            "StartTransaction",
            {"connectorId": 1, "idTag": id_tag, "meterStart": 0, "timestamp": now_iso()},
        )
        if start is None:
            return None
        return int(start["transactionId"])
