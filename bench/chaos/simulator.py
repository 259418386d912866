"""Charge points that behave like real ones under faults (raw OCPP-J frames, orjson).

One session per charge point: BootNotification, StatusNotification, Authorize, a transaction
start (1.6 StartTransaction / 2.0.1 TransactionEvent Started), a meter reading every
`interval` seconds (1.6 MeterValues / 2.0.1 TransactionEvent Updated) until told to stop, the
stop (StopTransaction / TransactionEvent Ended), StatusNotification, disconnect.

Like real chargers:
- one outstanding CALL per direction; CALLs the central system sends are answered at once;
- a CALL without an answer is resent with the **same unique id** (the same frame, byte for
  byte) after reconnecting; the connection is dropped when an answer takes longer than
  `answer_timeout` (then the same: reconnect, resend);
- reconnecting backs off exponentially with jitter;
- a transaction-related CALL answered with a CALLERROR is retried as a new CALL (new unique
  id, same payload), as OCPP 1.6 §4.7 (TransactionMessageAttempts) says; other CALLs are
  retried the same way until they succeed (a session cannot go on without them).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from bench.chaos.accounting import reading
from bench.chaos.ledger import ChargePointLedger, Ledger

V16 = "ocpp1.6"
V201 = "ocpp2.0.1"


def now_iso() -> str:
    """The current UTC time as OCPP writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Behaviour:
    """How the charge points time out, back off and pace their readings."""

    interval: float = 1.0
    # Below the gateway's CSMS_UPSTREAM_CALL_TIMEOUT (25 s in the run): a charger that gives
    # up first drops the connection and resends while the first copy is still being answered.
    answer_timeout: float = 20.0
    backoff_initial: float = 1.0
    backoff_max: float = 16.0
    open_timeout: float = 30.0
    # A reading answered with CALLERRORs this many times is given up (never acknowledged);
    # with the backoff (1, 2, 4, 8, 16 s...) the attempts outlast a broker restart, so a retry
    # after a CALLERROR whose message was queued anyway does happen (OCPP 1.6
    # TransactionMessageAttempts).
    meter_attempts: int = 10


class Lost(Exception):
    """The connection went away before the answer came."""


class CallError(Exception):
    """The central system answered a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


def backoff_delay(attempt: int, behaviour: Behaviour, rng: random.Random) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0-based): doubling, capped, with
    jitter (half to all of it) so a fleet does not reconnect in lockstep."""
    base = min(behaviour.backoff_max, behaviour.backoff_initial * 2.0 ** min(attempt, 30))
    return base * (0.5 + rng.random() / 2)


def answer_to(action: str) -> dict[str, Any]:
    """What the simulator answers a CALL from the central system."""
    if action == "GetConfiguration":
        return {"configurationKey": []}
    return {"status": "Accepted"}


class ChaosChargePoint:
    """One simulated charge point; `run` plays its session until `stopping` is set."""

    def __init__(
        self,
        index: int,
        base_url: str,
        version: str,
        ledger: Ledger,
        behaviour: Behaviour,
        id_tag: str,
    ) -> None:
        self.index = index
        self.cp_id = f"CHAOS-{index:05d}"
        self.url = f"{base_url}/{self.cp_id}"
        self.version = version
        self.ledger = ledger
        self.record: ChargePointLedger = ledger.add(self.cp_id, version)
        self.behaviour = behaviour
        self.id_tag = id_tag
        self.rng = random.Random(index)
        self.ws: ClientConnection | None = None
        self.connected = asyncio.Event()
        self.finished = False
        self._waiting: tuple[str, asyncio.Future[Any]] | None = None
        self._connections = 0
        self._loop = asyncio.get_running_loop()

    # ------------------------------------------------------------------ connection

    async def _keep_connected(self) -> None:
        attempt = 0
        while not self.finished:
            try:
                ws = await connect(
                    self.url,
                    subprotocols=[Subprotocol(self.version)],
                    compression=None,
                    open_timeout=self.behaviour.open_timeout,
                    ping_interval=None,
                    max_queue=None,
                )
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed):
                await asyncio.sleep(backoff_delay(attempt, self.behaviour, self.rng))
                attempt += 1
                continue
            attempt = 0
            self._connections += 1
            if self._connections > 1:
                self.record.reconnects += 1
            self.ws = ws
            self.connected.set()
            try:
                async for message in ws:
                    await self._on_frame(ws, message)
            except ConnectionClosed:
                pass
            finally:
                self.connected.clear()
                self.ws = None
                if self._waiting is not None and not self._waiting[1].done():
                    self._waiting[1].set_exception(Lost())
            if not self.finished:
                await asyncio.sleep(backoff_delay(attempt, self.behaviour, self.rng))
                attempt += 1

    async def _on_frame(self, ws: ClientConnection, message: str | bytes) -> None:
        try:
            frame = orjson.loads(message)
            kind, uid = frame[0], frame[1]
        except (orjson.JSONDecodeError, IndexError, TypeError, KeyError):
            return
        if kind == 2:  # the central system's CALL: answer it
            await ws.send(orjson.dumps([3, uid, answer_to(str(frame[2]))]).decode())
            return
        waiting = self._waiting
        if waiting is None or waiting[0] != uid or waiting[1].done():
            return  # an answer to a CALL given up on (e.g. a resend's first answer)
        if kind == 3:
            waiting[1].set_result(frame[2])
        elif kind == 4:
            waiting[1].set_exception(CallError(str(frame[2]), str(frame[3])))

    # ------------------------------------------------------------------ calls

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one CALL until it is answered; resend the same frame after reconnecting.

        Returns the CALLRESULT payload; raises CallError on a CALLERROR (counted).
        """
        uid = str(uuid.uuid4())
        text = orjson.dumps([2, uid, action, payload]).decode()
        sends = 0
        while True:
            await self.connected.wait()
            ws = self.ws
            if ws is None:
                continue
            future: asyncio.Future[Any] = self._loop.create_future()
            self._waiting = (uid, future)
            sent_at = self._loop.time()
            if sends:
                self.record.resends += 1
            sends += 1
            try:
                await ws.send(text)
                result: dict[str, Any] = await asyncio.wait_for(
                    future, self.behaviour.answer_timeout
                )
            except (Lost, ConnectionClosed):
                await self._gone(ws)
                continue
            except TimeoutError:
                # No answer: like a charger's watchdog, drop the connection; resend afterwards.
                self.record.answer_timeouts += 1
                await ws.close()
                await self._gone(ws)
                continue
            except CallError as exc:
                self.record.errors[exc.code] += 1
                raise
            finally:
                self._waiting = None
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: a Lost set after a failed send is no error
            self.ledger.success(self.cp_id, sent_at, self._loop.time())
            return result

    async def _gone(self, ws: ClientConnection) -> None:
        """Wait until the reader noticed that `ws` is closed. A send on a closed socket fails
        without ever yielding to the event loop: resending at once would spin forever."""
        while self.ws is ws:  # noqa: ASYNC110 - the reader swaps self.ws; a short poll
            await asyncio.sleep(0.05)

    async def call_until_answered(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """`call`, retried as a new CALL (same payload) after a CALLERROR, until it succeeds."""
        attempt = 0
        while True:
            try:
                return await self.call(action, payload)
            except CallError:
                await asyncio.sleep(backoff_delay(attempt, self.behaviour, self.rng))
                attempt += 1

    # ------------------------------------------------------------------ the session

    async def run(self, stopping: asyncio.Event) -> None:
        """The whole session; returns after the stop was acknowledged and the socket closed."""
        connection = asyncio.create_task(self._keep_connected())
        try:
            await self._session(stopping)
        finally:
            self.finished = True
            if self.ws is not None:
                await self.ws.close()
            connection.cancel()
            await asyncio.gather(connection, return_exceptions=True)

    async def _session(self, stopping: asyncio.Event) -> None:
        v16 = self.version == V16
        boot = (
            {"chargePointVendor": "Chaos", "chargePointModel": "Sim-16"}
            if v16
            else {
                "chargingStation": {"vendorName": "Chaos", "model": "Sim-201"},
                "reason": "PowerUp",
            }
        )
        # A retry with a pause between boots (Pending/Rejected), not a wait for a flag.
        while (await self.call_until_answered("BootNotification", boot)).get(  # noqa: ASYNC110
            "status"
        ) != "Accepted":
            await asyncio.sleep(self.behaviour.interval)
        await self.call_until_answered("StatusNotification", self._status("Available"))
        token = {"idToken": self.id_tag, "type": "ISO14443"}
        await self.call_until_answered(
            "Authorize", {"idTag": self.id_tag} if v16 else {"idToken": token}
        )
        counter = 0
        start_value = reading(self.index, counter)
        if v16:
            started = await self.call_until_answered(
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": self.id_tag,
                    "meterStart": start_value,
                    "timestamp": now_iso(),
                },
            )
            tx: int | str = int(started["transactionId"])
        else:
            tx = f"chaos-{self.index:05d}"
            await self.call_until_answered(
                "TransactionEvent",
                self._event("Started", 0, tx, "Authorized", idToken=token),
            )
        self.record.transaction = str(tx)
        await self.call_until_answered(
            "StatusNotification", self._status("Charging" if v16 else "Occupied")
        )
        while not stopping.is_set():
            counter += 1
            await self._send_reading(tx, counter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.behaviour.interval)
        last = reading(self.index, counter)
        if v16:
            await self.call_until_answered(
                "StopTransaction",
                {
                    "transactionId": tx,
                    "meterStop": last,
                    "timestamp": now_iso(),
                    "reason": "Local",
                },
            )
        else:
            await self.call_until_answered(
                "TransactionEvent",
                self._event("Ended", counter + 1, str(tx), "StopAuthorized", stoppedReason="Local"),
            )
        self.record.stop_acked = True
        await self.call_until_answered("StatusNotification", self._status("Available"))

    async def _send_reading(self, tx: int | str, counter: int) -> None:
        value = reading(self.index, counter)
        if self.version == V16:
            action = "MeterValues"
            payload: dict[str, Any] = {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {
                                "value": str(value),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            }
        else:
            action = "TransactionEvent"
            payload = self._event(
                "Updated",
                counter,
                str(tx),
                "MeterValuePeriodic",
                meterValue=[
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {
                                "value": value,
                                "measurand": "Energy.Active.Import.Register",
                                "unitOfMeasure": {"unit": "Wh"},
                            }
                        ],
                    }
                ],
            )
        for attempt in range(self.behaviour.meter_attempts):
            try:
                await self.call(action, payload)
            except CallError:
                await asyncio.sleep(backoff_delay(attempt, self.behaviour, self.rng))
                continue
            self.record.acked_values.append(value)
            return

    def _status(self, status: str) -> dict[str, Any]:
        if self.version == V16:
            return {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": status,
                "timestamp": now_iso(),
            }
        return {"timestamp": now_iso(), "connectorStatus": status, "evseId": 1, "connectorId": 1}

    def _event(
        self, event_type: str, seq_no: int, tx: str, trigger: str, **extra: Any
    ) -> dict[str, Any]:
        info: dict[str, Any] = {"transactionId": tx}
        if "stoppedReason" in extra:
            info["stoppedReason"] = extra.pop("stoppedReason")
        event: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": now_iso(),
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": info,
            **extra,
        }
        if event_type == "Started":
            event["evse"] = {"id": 1, "connectorId": 1}
        return event
