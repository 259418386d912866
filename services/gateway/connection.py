"""One charge point's websocket: read frames, answer its CALLs in order, send our CALLs.

Three tasks per socket, none waiting on another (the worker and the writer exist only while
they have something to do, so an idle socket costs one task):
- the reader (`run`) parses every frame; CALLs (and bad frames to answer) go to an ordered
  queue; CALLRESULT / CALLERROR frames resolve our outstanding CALL by unique id at once;
- the worker answers the queued CALLs one at a time, in order (OCPP-NOTES: a second CALL
  while one is processing is queued, never refused);
- the writer drains a bounded send queue; when it is full the peer is dead or too slow and
  the socket is aborted rather than letting it hold memory or block anyone.
Our own CALLs (downstream commands) go out one at a time (OCPP-J: one outstanding CALL per
direction); the others wait in order, each within its own deadline.

Per connection the gateway also keeps:
- the unique ids in flight (queued or being answered): a CALL reusing one is refused at once
  (1.6 ProtocolError / 2.0.1 RpcFrameworkError) rather than processed twice;
- the registration status (from the registry at connect time, then from every
  BootNotification answer): until it is Accepted only BootNotification goes through, plus,
  while Pending, what the central system asked for (TriggerMessage, 2.0.1 GetBaseReport /
  GetReport); everything else is answered SecurityError and nothing is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, Protocol, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from services.gateway import frames
from services.gateway.batching import UpstreamBatcher
from services.gateway.errors import ErrorKey
from services.gateway.frames import (
    NUL_ESCAPE,
    UNKNOWN_UNIQUE_ID,
    Call,
    CallError,
    CallResult,
    FrameError,
)
from services.gateway.heartbeats import HeartbeatBatcher
from services.gateway.validation import SchemaViolation, UnknownSchema, validate
from services.gateway.versions.base import (
    ACCEPTED,
    BOOT_NOTIFICATION,
    HEARTBEAT,
    PENDING,
    ActionRejected,
    Direction,
    Handling,
    ProtocolVersion,
    UpstreamAction,
)
from shared import metrics
from shared.bus.errors import BusError, RpcTimeout, Unroutable
from shared.bus.topology import GATEWAY_FRAME_LOG, UPSTREAM, upstream_key
from shared.envelope import (
    Envelope,
    Kind,
    canonical_payload,
    content_key,
    message_key_from_canonical,
    utcnow,
)
from shared.logging import chargepoint_id_var, correlation_id_var, unique_id_var

log = logging.getLogger(__name__)

MAX_PENDING_CALLS: Final = 32
"""Upstream CALLs queued behind the one being answered before we answer GenericError."""
MAX_LOGGED_FRAME: Final = 64 * 1024
"""A frame published in `gateway.frame_log` is cut to this many characters."""
MAX_LOG_TASKS: Final = 64
"""Frame-log publishes in flight per connection; beyond that they are dropped (and logged)."""
UNSUPPORTED_DATA: Final = 1003
"""RFC 6455 §7.4.1: "a type of data it cannot accept (e.g., an endpoint that understands only
text data MAY send this if it receives a binary message)"."""
CONTENT_KEYED: Final = frozenset({"MeterValues"})
"""Actions whose envelope carries `content_key` (1.6 and 2.0.1 alike)."""
BINARY_FRAME: Final = "binary frames are not supported: OCPP-J messages are JSON text frames"


class BusPort(Protocol):
    """What the gateway needs of `shared.bus.Bus` (tests hand in fakes)."""

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = ...
    ) -> None: ...

    async def rpc(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        timeout: float,
        mandatory: bool = ...,
    ) -> Envelope: ...


class BinaryFrame(FrameError):
    """A binary websocket frame: answered like an unreadable frame, then the socket closes."""


class ConnectionGone(Exception):
    """The socket closed before our CALL was answered (or before it could be sent)."""


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the other end of a socket."""

    chargepoint_id: str
    remote_ip: str
    remote_port: int


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """The settings one connection uses."""

    node_id: str
    upstream_call_timeout: float = 10.0
    send_queue_size: int = 64


T = TypeVar("T")


class Fifo(Generic[T]):
    """A bounded FIFO that holds memory only while it holds items.

    An idle charge point is most of a gateway's sockets: an `asyncio.Queue` costs ~2.4 KB
    (three deques) even when empty, this costs nothing until used and frees its deque once
    drained. The consumer is a task started on demand, so no waiting getters are needed.
    """

    __slots__ = ("_items", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self._items: deque[T] | None = None
        self.maxsize = maxsize

    def put_nowait(self, item: T) -> None:
        """Append; raise `asyncio.QueueFull` at `maxsize` items."""
        if self._items is None:
            self._items = deque()
        elif len(self._items) >= self.maxsize:
            raise asyncio.QueueFull
        self._items.append(item)

    def get_nowait(self) -> T:
        """Pop the oldest item; raise `asyncio.QueueEmpty` (and free the deque) when empty."""
        if not self._items:
            self._items = None
            raise asyncio.QueueEmpty
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    def __iter__(self) -> Iterator[T]:
        return iter(self._items or ())


class ChargePointConnection:
    """One charge point's socket: ordered answers upstream, one outstanding CALL downstream."""

    def __init__(
        self,
        ws: ServerConnection,
        *,
        peer: Peer,
        version: ProtocolVersion,
        bus: BusPort,
        config: ConnectionSettings,
        registration: str | None,
        clock: Callable[[], datetime] = utcnow,
        heartbeats: HeartbeatBatcher | None = None,
        batcher: UpstreamBatcher | None = None,
    ) -> None:
        """`registration`: the charge point's registration status as the registry knows it
        (Accepted, Pending, Rejected; None for an id it does not know). `heartbeats`: answer
        Heartbeat here and hand last-seen to the batcher (services/gateway/heartbeats.py);
        None: publish each one like any fixed-answer CALL. `batcher`: publish fixed-answer
        CALLs together with other sockets' (services/gateway/batching.py); None: one by one."""
        self.ws = ws
        self.peer = peer
        self.chargepoint_id = peer.chargepoint_id
        self.version = version
        self.connection_id = uuid.uuid4().hex
        self.connected_at = clock()
        self._bus = bus
        self._config = config
        self._clock = clock
        self._heartbeats = heartbeats
        self._batcher = batcher
        self._incoming: Fifo[Call | FrameError] = Fifo(MAX_PENDING_CALLS)
        self._outgoing: Fifo[str] = Fifo(config.send_queue_size)
        self._call_lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[CallResult | CallError]] | None = None
        # While Pending: what the outstanding command asks the charge point to send, and
        # what commands it accepted asked for (until the next BootNotification answer).
        self._pending_triggers: frozenset[str] | None = None
        self._triggered: set[str] | None = None
        self.registration = registration
        self._answering: str | None = None  # the unique id the worker is answering
        self._refusing_binary = False  # a binary frame came: answered, then closed
        self._log_tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._debug = log.isEnabledFor(logging.DEBUG)

    @property
    def closed(self) -> bool:
        """True once the socket is gone (or going)."""
        return self._closed

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Serve the socket until it closes."""
        chargepoint_id_var.set(self.chargepoint_id)
        try:
            async for data in self.ws:
                self._on_frame(data)
        except ConnectionClosed:
            pass
        finally:
            self._closed = True
            self._fail_pending()
            tasks = [t for t in (self._worker, self._writer) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (the reader then ends `run`)."""
        self._closed = True
        self._fail_pending()
        await self.ws.close(code, reason)

    def abort(self, reason: str) -> None:
        """Drop the TCP connection at once: for a peer that does not read what we send."""
        log.warning("aborting connection: %s", reason)
        self._closed = True
        self._fail_pending()
        self.ws.transport.abort()

    def _fail_pending(self) -> None:
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(ConnectionGone("the charge point disconnected"))

    # ------------------------------------------------------------------ reading

    def _on_frame(self, data: str | bytes) -> None:
        if self._refusing_binary:
            return  # the socket is being closed (1003): nothing more is read
        if isinstance(data, bytes):
            self._on_binary(data)
            return
        if self._debug:
            log.debug("frame in", extra={"frame": data[:MAX_LOGGED_FRAME]})
        try:
            frame = frames.parse(data)
        except FrameError as exc:
            self._on_bad_frame(exc, data)
            return
        if isinstance(frame, Call):
            if self._in_flight(frame.unique_id):
                self._refuse_in_flight(frame)
                return
            try:
                self._enqueue(frame)
            except asyncio.QueueFull:
                log.warning("too many CALLs pending; refusing %s", frame.unique_id)
                self._send(
                    frames.dump_error(
                        frame.unique_id,
                        self.version.error_code(ErrorKey.GENERIC),
                        f"more than {MAX_PENDING_CALLS} CALLs are waiting for an answer",
                    )
                )
            return
        self._resolve(frame)

    def _in_flight(self, unique_id: str) -> bool:
        """Whether a CALL with this unique id is being answered or waits to be."""
        if unique_id == self._answering:
            return True
        return any(isinstance(i, Call) and i.unique_id == unique_id for i in self._incoming)

    def _refuse_in_flight(self, call: Call) -> None:
        """Refuse a CALL whose unique id is in flight, at once: processing it would do its
        work twice (OCPP-J: a message id is unique for the sender until it is answered)."""
        self._send(
            self._refuse(
                call,
                ErrorKey.IN_FLIGHT,
                f"unique id {call.unique_id} is already in use by a CALL being answered",
                {},
            )
        )

    def _on_binary(self, data: bytes) -> None:
        """A binary frame: answered with the version's framing error and unique id "-1" (it
        is not read, so its id is unknown), then the socket is closed with 1003.

        OCPP-J messages are JSON text (1.6J §4, 2.0.1 Part 4 §4), which websockets carry in
        text frames (RFC 6455 §5.6); a peer sending binary data speaks something else.
        """
        self._refusing_binary = True
        code = self.version.error_code(ErrorKey.RPC_FRAMEWORK)
        log.warning("binary frame of %d bytes: answering %s and closing (1003)", len(data), code)
        exc = BinaryFrame(ErrorKey.RPC_FRAMEWORK, BINARY_FRAME)
        self._frame_log(
            f"<binary frame of {len(data)} bytes>",
            UNKNOWN_UNIQUE_ID,
            None,
            code,
            BINARY_FRAME,
            frames.dump_error(UNKNOWN_UNIQUE_ID, code, BINARY_FRAME),
        )
        try:
            self._enqueue(exc)  # answered in order, after the CALLs before it
        except asyncio.QueueFull:
            self._answer_bad_frame(exc)
            self._close_after_writes(UNSUPPORTED_DATA, "binary frames are not supported")

    def _on_bad_frame(self, exc: FrameError, data: str) -> None:
        code = self.version.error_code(exc.key)
        if exc.answerable:
            log.warning("bad frame: %s (%s)", exc.description, code)
            self._frame_log(
                data,
                exc.unique_id,
                exc.action,
                code,
                exc.description,
                frames.dump_error(exc.unique_id, code, exc.description, exc.details),
            )
            try:
                self._enqueue(exc)
            except asyncio.QueueFull:
                self._answer_bad_frame(exc)
            return
        # A broken answer is never answered; it still ends the CALL it was meant for.
        log.warning("dropping malformed %s: %s", _TYPE_NAMES[exc.message_type_id], exc.description)
        pending = self._pending
        if pending is not None and pending[0] == exc.unique_id and not pending[1].done():
            pending[1].set_result(CallError(exc.unique_id, code, exc.description, exc.details))
        self._frame_log(data, exc.unique_id, None, code, exc.description, None)

    def _resolve(self, frame: CallResult | CallError) -> None:
        pending = self._pending
        if pending is None or pending[0] != frame.unique_id or pending[1].done():
            log.warning(
                "dropping %s for unknown or late unique id %s",
                type(frame).__name__,
                frame.unique_id,
            )
            return
        # Here, not in `call`: the triggered message may be the very next frame read.
        triggers = self._pending_triggers
        if triggers and isinstance(frame, CallResult) and frame.payload.get("status") == ACCEPTED:
            if self._triggered is None:
                self._triggered = set()
            self._triggered.update(triggers)
        pending[1].set_result(frame)

    # ------------------------------------------------------------------ answering CALLs

    def _enqueue(self, item: Call | FrameError) -> None:
        """Queue a CALL (or a bad frame to answer) behind the others; raise QueueFull."""
        self._incoming.put_nowait(item)
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while True:
            try:
                item = self._incoming.get_nowait()
            except asyncio.QueueEmpty:
                self._worker = None
                return
            unique_id_var.set(item.unique_id)
            if isinstance(item, FrameError):
                self._answer_bad_frame(item)
                if isinstance(item, BinaryFrame):
                    self._close_after_writes(UNSUPPORTED_DATA, "binary frames are not supported")
                continue
            self._answering = item.unique_id
            try:
                with metrics.time_call(self.version.name, item.action, "in"):
                    answer = await self._answer(item)
            except Exception:
                log.exception("answering %s %s failed", item.action, item.unique_id)
                answer = frames.dump_error(
                    item.unique_id, self.version.error_code(ErrorKey.INTERNAL), "internal error"
                )
            finally:
                self._answering = None
            self._send(answer)

    def _answer_bad_frame(self, exc: FrameError) -> None:
        code = self.version.error_code(exc.key)
        answer = frames.dump_error(exc.unique_id, code, exc.description, exc.details)
        metrics.count_ocpp_message(self.version.name, "-", "in", "bad_frame")
        self._send(answer)

    def _close_after_writes(self, code: int, reason: str) -> None:
        """Close the socket once what is queued to it (the last answer) has been written."""
        task = asyncio.create_task(self._close_when_written(code, reason))
        self._log_tasks.add(task)  # keeps a reference; never cancelled by `run`
        task.add_done_callback(self._log_tasks.discard)

    async def _close_when_written(self, code: int, reason: str) -> None:
        writer = self._writer
        if writer is not None:
            await asyncio.wait({writer})
        await close_quietly(self, code, reason)

    async def _answer(self, call: Call) -> str:
        """The answer frame of one CALL."""
        if self.registration != ACCEPTED and not self._may_send(call.action):
            # 1.6 §4.2 / 2.0.1 B02.FR.09, B03.FR.07: nothing but BootNotification (and, while
            # Pending, what the central system triggered) before the charge point is Accepted.
            return self._refuse(
                call,
                ErrorKey.SECURITY,
                f"{call.action} refused: the charge point is not accepted "
                f"(registration status {self.registration or 'unknown'}); "
                "send a BootNotification first",
                {},
            )
        how = self.version.classify(call.action)
        if isinstance(how, ActionRejected):
            return self._refuse(call, how.key, how.description, {})
        try:
            validate(self.version, call.action, Direction.REQUEST, call.payload)
        except SchemaViolation as exc:
            return self._refuse(call, exc.key, exc.description, exc.details)
        except UnknownSchema:
            return self._refuse(call, ErrorKey.NOT_IMPLEMENTED, f"no schema for {call.action}", {})
        canonical = call.canonical or canonical_payload(call.payload)
        if how is HEARTBEAT and self._heartbeats is not None:
            return self._answer_heartbeat(call, canonical)
        envelope = Envelope(
            kind=Kind.CALL,
            action=call.action,
            payload=call.payload,
            chargepoint_id=self.chargepoint_id,
            ocpp_version=self.version.name,
            unique_id=call.unique_id,
            # The idempotency key of what the services write (docs/internals.md, Envelope).
            correlation_id=message_key_from_canonical(
                self.chargepoint_id, call.unique_id, call.action, canonical
            ),
            # Meter values are keyed by what they say (services/transactions/tables.py).
            content_key=content_key(self.chargepoint_id, call.action, canonical)
            if call.action in CONTENT_KEYED
            else None,
            node_id=self._config.node_id,
        )
        correlation_id_var.set(envelope.correlation_id)
        if how.handling is Handling.RPC:
            return await self._answer_rpc(call, envelope)
        return await self._answer_fixed(call, envelope, how)

    async def _answer_rpc(self, call: Call, envelope: Envelope) -> str:
        key = upstream_key(self.version.name, call.action)
        try:
            reply = await self._bus.rpc(
                UPSTREAM,
                key,
                envelope,
                timeout=self._config.upstream_call_timeout,
                mandatory=True,
            )
        except RpcTimeout:
            metrics.count_rpc_timeout(key)
            return self._internal(call, "the central system did not answer in time")
        except Unroutable:
            return self._internal(call, f"no service handles {call.action}")
        except BusError as exc:
            return self._internal(call, f"message bus unavailable ({type(exc).__name__})")
        if reply.kind is Kind.RESULT:
            try:
                validate(self.version, call.action, Direction.RESPONSE, reply.payload)
            except SchemaViolation as exc:
                log.error(
                    "service answer to %s is invalid: %s",
                    call.action,
                    exc.description,
                    extra={"payload": reply.payload},
                )
                return self._internal(call, "the central system produced an invalid answer")
            if call.action == BOOT_NOTIFICATION:
                self._registered(reply.payload.get("status"))
            metrics.count_ocpp_message(self.version.name, call.action, "in", "ok")
            return frames.dump_result(call.unique_id, reply.payload)
        code = reply.error_code or ""
        if code not in self.version.error_code_names:
            log.error("service answered %s with unknown error code %r", call.action, code)
            code = self.version.error_code(ErrorKey.INTERNAL)
        metrics.count_ocpp_message(self.version.name, call.action, "in", "error")
        return frames.dump_error(
            call.unique_id, code, reply.error_description or "", reply.error_details or {}
        )

    async def _answer_fixed(self, call: Call, envelope: Envelope, how: UpstreamAction) -> str:
        # ARCHITECTURE: a fixed answer only once the broker confirmed the message is durable.
        key = upstream_key(self.version.name, call.action)
        try:
            if self._batcher is not None:
                await self._batcher.publish(key, envelope)
            else:
                await self._bus.publish(UPSTREAM, key, envelope, mandatory=True)
        except Unroutable:
            return self._internal(call, f"no service handles {call.action}")
        except BusError as exc:
            return self._internal(call, f"message bus unavailable ({type(exc).__name__})")
        assert how.answer is not None  # a FIXED action always has one
        metrics.count_ocpp_message(self.version.name, call.action, "in", "ok")
        return frames.dump_result(call.unique_id, how.answer(self._clock()))

    def _answer_heartbeat(self, call: Call, canonical: bytes) -> str:
        """Heartbeat: answered at once; its time goes to the batcher (issue 15: no broker
        message and no database write per heartbeat; the durability contract's exception)."""
        assert self._heartbeats is not None and HEARTBEAT.answer is not None
        now = self._clock()
        self._heartbeats.add(
            self.chargepoint_id,
            now,
            ocpp_version=self.version.name,
            unique_id=call.unique_id,
            # The message key: a resent heartbeat writes its `heartbeat` row once.
            message_id=message_key_from_canonical(
                self.chargepoint_id, call.unique_id, call.action, canonical
            ),
        )
        metrics.count_ocpp_message(self.version.name, call.action, "in", "ok")
        return frames.dump_result(call.unique_id, HEARTBEAT.answer(now))

    def _may_send(self, action: str) -> bool:
        """Whether a charge point that is not Accepted may send `action`."""
        if action == BOOT_NOTIFICATION:
            return True
        triggered = self._triggered
        return self.registration == PENDING and triggered is not None and action in triggered

    def _registered(self, status: object) -> None:
        """A BootNotification answer went through: its status is the registration now."""
        self.registration = status if isinstance(status, str) else None
        self._triggered = None
        if status != ACCEPTED:
            log.info("registration status %s: only BootNotification goes through", status)

    def _internal(self, call: Call, description: str) -> str:
        log.warning("answering %s with InternalError: %s", call.action, description)
        metrics.count_ocpp_message(self.version.name, call.action, "in", "internal_error")
        return frames.dump_error(
            call.unique_id, self.version.error_code(ErrorKey.INTERNAL), description
        )

    def _refuse(self, call: Call, key: ErrorKey, description: str, details: dict[str, Any]) -> str:
        """A CALLERROR the gateway decides itself; published to the message log too."""
        code = self.version.error_code(key)
        log.warning("refusing %s: %s (%s)", call.action, description, code)
        metrics.count_ocpp_message(self.version.name, call.action, "in", "refused")
        answer = frames.dump_error(call.unique_id, code, description, details)
        self._frame_log(
            frames.dump_call(call.unique_id, call.action, call.payload),
            call.unique_id,
            call.action,
            code,
            description,
            answer,
        )
        return answer

    # ------------------------------------------------------------------ message log

    def _frame_log(
        self,
        raw: str,
        unique_id: str,
        action: str | None,
        code: str,
        description: str,
        answer: str | None,
    ) -> None:
        """Publish a `gateway.frame_log` event; never delays an answer, failures are logged.

        A NUL (refused for that very reason, frames.py) is logged as U+FFFD: the message log
        is in Postgres, which cannot store one.
        """
        if len(self._log_tasks) >= MAX_LOG_TASKS:
            log.warning("frame log backlog full; not logging frame %s", unique_id)
            return
        if NUL_ESCAPE in raw:
            raw = raw.replace(NUL_ESCAPE, "\\ufffd")
        if answer is not None and NUL_ESCAPE in answer:
            answer = answer.replace(NUL_ESCAPE, "\\ufffd")
        if "\x00" in unique_id:
            unique_id = unique_id.replace("\x00", "\ufffd")
        envelope = Envelope(
            kind=Kind.EVENT,
            action=GATEWAY_FRAME_LOG,
            chargepoint_id=self.chargepoint_id,
            ocpp_version=self.version.name,
            unique_id=unique_id,
            node_id=self._config.node_id,
            payload={
                "direction": "in",
                "action": action,
                "frame": raw[:MAX_LOGGED_FRAME],
                "truncated": len(raw) > MAX_LOGGED_FRAME,
                "error_code": code,
                "error_description": description,
                "answer": answer,
            },
        )
        task = asyncio.create_task(self._publish_frame_log(envelope))
        self._log_tasks.add(task)
        task.add_done_callback(self._log_tasks.discard)

    async def _publish_frame_log(self, envelope: Envelope) -> None:
        try:
            await self._bus.publish(UPSTREAM, GATEWAY_FRAME_LOG, envelope)
        except BusError as exc:
            log.warning("could not publish frame log of %s: %r", envelope.unique_id, exc)

    # ------------------------------------------------------------------ writing

    def _send(self, text: str) -> None:
        if self._closed:
            return
        if self._debug:
            log.debug("frame out", extra={"frame": text[:MAX_LOGGED_FRAME]})
        try:
            self._outgoing.put_nowait(text)
        except asyncio.QueueFull:
            self.abort(f"send queue full ({self._outgoing.maxsize} frames): peer too slow")
            return
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while True:
            try:
                text = self._outgoing.get_nowait()
            except asyncio.QueueEmpty:
                self._writer = None
                return
            try:
                await self.ws.send(text)
            except ConnectionClosed:
                return

    # ------------------------------------------------------------------ our CALLs

    async def call(
        self, action: str, payload: dict[str, Any], *, timeout: float
    ) -> CallResult | CallError:
        """Send a CALL and wait for its answer; raise TimeoutError or ConnectionGone.

        Waiting for an earlier CALL to be answered counts against `timeout`.
        """
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout), self._call_lock:
            if self._closed:
                raise ConnectionGone("the charge point disconnected")
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[CallResult | CallError] = loop.create_future()
            self._pending = (unique_id, future)
            if self.registration == PENDING:
                self._pending_triggers = self.version.triggered(action, payload)
            try:
                self._send(frames.dump_call(unique_id, action, payload))
                return await future
            finally:
                self._pending = None
                self._pending_triggers = None
                if not future.done():
                    future.cancel()


_TYPE_NAMES: Final = {frames.CALLRESULT: "CALLRESULT", frames.CALLERROR: "CALLERROR", None: "frame"}


async def close_quietly(conn: ChargePointConnection, code: int, reason: str) -> None:
    """Close a connection, ignoring a socket that is already gone."""
    with contextlib.suppress(Exception):
        await conn.close(code, reason)
