"""Commands to charge points: this node's exclusive queue, bindings, takeover, replies.

Each gateway node owns the exclusive queue `gateway.node.<node_id>` and binds on the direct
exchange `ocpp.downstream` the id of every charge point whose socket it holds; a command
published with `mandatory` to an id nobody binds is returned at once (Unroutable = "not
connected" for the sender).

A second connection for an id wins, on whichever node the first one lives:
1. the new connection becomes the local one for its id (an older local socket is closed);
2. before binding, the node sends a `gateway.takeover` RPC on `ocpp.downstream` with the id as
   routing key (mandatory): Unroutable means nobody else holds it; otherwise every node that
   holds the id (possibly this one) drops the older connection from its table, unbinds the id
   at once (so commands stop reaching it) and closes the old socket (code 4000), then replies;
3. only then the new node binds the id. A takeover not answered within `TAKEOVER_TIMEOUT`
   (a node that is dying) does not stop the new connection: the id is bound anyway.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Protocol

from aio_pika.abc import AbstractIncomingMessage

from services.gateway.connection import ChargePointConnection, ConnectionGone, close_quietly
from services.gateway.frames import CallResult
from services.gateway.validation import SchemaViolation, UnknownSchema, validate
from services.gateway.versions.base import Direction
from shared import metrics
from shared.bus.consumer import BatchHandler, Delivery, Outcome
from shared.bus.errors import BusError, RpcTimeout, Unroutable
from shared.bus.topology import DOWNSTREAM
from shared.commands import (
    GATEWAY_ANSWER_INVALID,
    GATEWAY_FAILED,
    GATEWAY_NOT_CONNECTED,
    GATEWAY_REQUEST_INVALID,
    GATEWAY_TIMEOUT,
    GATEWAY_UNSUPPORTED,
    SOURCE_CHARGEPOINT,
    SOURCE_GATEWAY,
)
from shared.envelope import Envelope, Kind, utcnow
from shared.logging import chargepoint_id_var, correlation_id_var

log = logging.getLogger(__name__)

TAKEOVER: Final = "gateway.takeover"
TAKEOVER_TIMEOUT: Final = 2.0
REPLACED_CLOSE_CODE: Final = 4000
REPLACED_REASON: Final = "replaced by a newer connection"


class DownstreamBus(Protocol):
    """What downstream routing needs of `shared.bus.Bus`."""

    async def declare_gateway_queue(self, node_id: str) -> str: ...

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None: ...

    async def unbind(self, queue: str, exchange: str, routing_key: str) -> None: ...

    async def consume(
        self, queue: str, handler: BatchHandler, *, max_batch: int = ..., max_wait: float = ...
    ) -> object: ...

    async def rpc(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        timeout: float,
        mandatory: bool = ...,
        expect_unroutable: bool = ...,
    ) -> Envelope: ...

    async def reply(self, request: AbstractIncomingMessage, envelope: Envelope) -> None: ...


class Downstream:
    """The charge points this node holds, their bindings, and the commands sent to them."""

    def __init__(self, bus: DownstreamBus, *, node_id: str, command_timeout: float) -> None:
        self._bus = bus
        self.node_id = node_id
        self.command_timeout = command_timeout
        self.connections: dict[str, ChargePointConnection] = {}
        self._queue: str | None = None
        self._bound: set[str] = set()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def queue(self) -> str:
        """This node's queue (after `start`)."""
        if self._queue is None:
            raise RuntimeError("downstream routing is not started")
        return self._queue

    async def start(self) -> None:
        """Declare this node's exclusive queue and consume it."""
        self._queue = await self._bus.declare_gateway_queue(self.node_id)
        await self._bus.consume(self._queue, self._on_batch, max_batch=50, max_wait=0)

    async def stop(self) -> None:
        """Wait (briefly) for the commands in flight to be answered."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)

    def routable(self, chargepoint_id: str) -> bool:
        """True once commands for this id reach this node (attached and bound)."""
        return chargepoint_id in self.connections and chargepoint_id in self._bound

    def _lock(self, chargepoint_id: str) -> asyncio.Lock:
        lock = self._locks.get(chargepoint_id)
        if lock is None:
            lock = self._locks[chargepoint_id] = asyncio.Lock()
        return lock

    # ------------------------------------------------------------------ attach / detach

    async def attach(self, conn: ChargePointConnection) -> None:
        """Make `conn` the one connection of its id, here and on every other node; bind it."""
        cp_id = conn.chargepoint_id
        old = self.connections.get(cp_id)
        self.connections[cp_id] = conn
        if old is not None and old is not conn:
            log.info("a newer connection replaces %s on this node", old.connection_id)
            self._spawn(close_quietly(old, REPLACED_CLOSE_CODE, REPLACED_REASON))
        await self._takeover(conn)
        async with self._lock(cp_id):
            if self.connections.get(cp_id) is conn and cp_id not in self._bound:
                await self._bus.bind(self.queue, DOWNSTREAM, cp_id)
                self._bound.add(cp_id)

    async def detach(self, conn: ChargePointConnection) -> None:
        """Forget a closed connection; unbind its id unless a newer one holds it."""
        cp_id = conn.chargepoint_id
        if self.connections.get(cp_id) is conn:
            del self.connections[cp_id]
        await self._unbind_if_unused(cp_id)

    async def _unbind_if_unused(self, cp_id: str) -> None:
        async with self._lock(cp_id):
            if cp_id not in self.connections and cp_id in self._bound:
                self._bound.discard(cp_id)
                try:
                    await self._bus.unbind(self.queue, DOWNSTREAM, cp_id)
                except BusError as exc:
                    log.warning("unbind of %s failed: %r", cp_id, exc)

    async def _takeover(self, conn: ChargePointConnection) -> None:
        envelope = Envelope(
            kind=Kind.EVENT,
            action=TAKEOVER,
            chargepoint_id=conn.chargepoint_id,
            node_id=self.node_id,
            payload={"connection_id": conn.connection_id, "node_id": self.node_id},
        )
        try:
            await self._bus.rpc(
                DOWNSTREAM,
                conn.chargepoint_id,
                envelope,
                timeout=TAKEOVER_TIMEOUT,
                mandatory=True,
                expect_unroutable=True,  # the usual answer, not a lost message
            )
        except Unroutable:
            return  # nobody else holds this id
        except RpcTimeout:
            metrics.count_rpc_timeout(TAKEOVER)
            log.warning("takeover of %s not confirmed in time; binding anyway", conn.chargepoint_id)

    async def _on_takeover(self, envelope: Envelope) -> Envelope:
        cp_id = envelope.chargepoint_id or ""
        winner = envelope.payload.get("connection_id")
        conn = self.connections.get(cp_id)
        closed = False
        if conn is not None and conn.connection_id != winner:
            log.info(
                "connection of %s taken over by node %s",
                cp_id,
                envelope.payload.get("node_id"),
            )
            del self.connections[cp_id]
            await self._unbind_if_unused(cp_id)
            self._spawn(close_quietly(conn, REPLACED_CLOSE_CODE, REPLACED_REASON))
            closed = True
        return envelope.result({"closed": closed, "node_id": self.node_id})

    # ------------------------------------------------------------------ commands

    async def _on_batch(self, deliveries: list[Delivery]) -> Sequence[Outcome]:
        # Commands wait for a charge point for up to `command_timeout`: each runs in its own
        # task so one slow charge point never holds up the others; the batch is acked at once
        # (the queue is exclusive to this node: a command is lost with the node anyway).
        for delivery in deliveries:
            self._spawn(self._serve(delivery))
        return [None] * len(deliveries)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, delivery: Delivery) -> None:
        envelope = delivery.envelope
        chargepoint_id_var.set(envelope.chargepoint_id or delivery.routing_key)
        correlation_id_var.set(delivery.message.correlation_id)
        try:
            if envelope.action == TAKEOVER:
                reply = await self._on_takeover(envelope)
            else:
                reply = await self.command(
                    delivery.routing_key,
                    envelope,
                    expiration=_seconds(delivery.message.expiration),
                    sent_at=envelope.created_at,
                )
        except Exception:
            log.exception("command %s failed", envelope.action)
            reply = envelope.error(
                GATEWAY_FAILED, "the gateway failed to handle the command", source=SOURCE_GATEWAY
            )
        if delivery.reply_to:
            try:
                await self._bus.reply(delivery.message, reply)
            except BusError as exc:
                log.warning("reply to %s failed: %r", envelope.action, exc)

    def _deadline(self, expiration: float | None, sent_at: datetime | None) -> float:
        timeout = self.command_timeout
        if expiration is not None:
            timeout = min(timeout, expiration)
        if sent_at is not None:
            elapsed = (utcnow() - sent_at).total_seconds()
            if 0 < elapsed < timeout:  # clocks of two nodes may disagree: never trust < 0
                timeout -= elapsed
        return timeout

    async def command(
        self,
        chargepoint_id: str,
        envelope: Envelope,
        *,
        expiration: float | None = None,
        sent_at: datetime | None = None,
    ) -> Envelope:
        """Send one command to a charge point held here; the reply envelope.

        The gateway's own errors (`error_source` "gateway"): `NotConnected`, `Timeout`,
        `UnsupportedForVersion` (no command of the connection's version, or routed by the
        sender for another version than the connection speaks), `RequestInvalid` (the
        version's schema refuses the request; `details.ocpp_code` spells the violation),
        `AnswerInvalid` (the charge point's CALLRESULT fails the schema). A CALLERROR of the
        charge point is passed on as it came, `error_source` "chargepoint".
        """
        conn = self.connections.get(chargepoint_id)
        if conn is None or conn.closed:
            return envelope.error(
                GATEWAY_NOT_CONNECTED, f"{chargepoint_id} is not connected", source=SOURCE_GATEWAY
            )
        version = conn.version
        action = envelope.action
        if envelope.ocpp_version and envelope.ocpp_version != version.name:
            return envelope.error(
                GATEWAY_UNSUPPORTED,
                f"{action} was sent for {envelope.ocpp_version}; "
                f"{chargepoint_id} speaks {version.name}",
                {"ocpp_version": version.name},
                source=SOURCE_GATEWAY,
            )
        if action not in version.downstream:
            return envelope.error(
                GATEWAY_UNSUPPORTED,
                f"{action} is not a command of {version.name}",
                {"ocpp_version": version.name},
                source=SOURCE_GATEWAY,
            )
        try:
            validate(version, action, Direction.REQUEST, envelope.payload)
        except SchemaViolation as exc:
            return envelope.error(
                GATEWAY_REQUEST_INVALID,
                exc.description,
                {**exc.details, "ocpp_code": version.error_code(exc.key)},
                source=SOURCE_GATEWAY,
            )
        except UnknownSchema:
            return envelope.error(
                GATEWAY_UNSUPPORTED,
                f"{version.name} has no schema for {action}",
                {"ocpp_version": version.name},
                source=SOURCE_GATEWAY,
            )
        timeout = self._deadline(expiration, sent_at)
        try:
            with metrics.time_call(version.name, action, "out"):
                answer = await conn.call(action, envelope.payload, timeout=timeout)
        except TimeoutError:
            metrics.count_ocpp_message(version.name, action, "out", "timeout")
            metrics.count_rpc_timeout("chargepoint")
            return envelope.error(
                GATEWAY_TIMEOUT,
                f"no answer from {chargepoint_id} within {timeout:.1f}s",
                source=SOURCE_GATEWAY,
            )
        except ConnectionGone:
            metrics.count_ocpp_message(version.name, action, "out", "not_connected")
            return envelope.error(
                GATEWAY_NOT_CONNECTED, f"{chargepoint_id} disconnected", source=SOURCE_GATEWAY
            )
        if isinstance(answer, CallResult):
            try:
                validate(version, action, Direction.RESPONSE, answer.payload)
            except SchemaViolation as exc:
                log.warning("invalid %s answer from the charge point: %s", action, exc.description)
                metrics.count_ocpp_message(version.name, action, "out", "invalid_answer")
                return envelope.error(
                    GATEWAY_ANSWER_INVALID,
                    f"the charge point's answer is invalid: {exc.description}",
                    {
                        **exc.details,
                        "ocpp_code": version.error_code(exc.key),
                        "payload": answer.payload,
                    },
                    source=SOURCE_GATEWAY,
                )
            metrics.count_ocpp_message(version.name, action, "out", "ok")
            return envelope.result(answer.payload)
        metrics.count_ocpp_message(version.name, action, "out", "error")
        return envelope.error(
            answer.code, answer.description, answer.details, source=SOURCE_CHARGEPOINT
        )


def _seconds(value: object) -> float | None:
    """aio-pika decodes an incoming message's `expiration` to seconds (float)."""
    return float(value) if isinstance(value, int | float) else None
