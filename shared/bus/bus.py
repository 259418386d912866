"""The Bus: one robust AMQP connection per process; publish, RPC, batch consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)
from aio_pika.connection import make_url
from aio_pika.exceptions import ChannelPreconditionFailed
from aiormq.exceptions import AMQPError, ChannelInvalidStateError, DeliveryError, PublishError
from pamqp.commands import Basic
from pydantic import ValidationError

from shared.bus import topology
from shared.bus.batch import BATCH_CONTENT_TYPE, ENVELOPE_CONTENT_TYPE, batch_body
from shared.bus.consumer import BatchHandler, BusMetrics, Consumer
from shared.bus.deadletter import ORIGINAL_EXPIRATION, DeathNote
from shared.bus.errors import (
    InvalidEnvelope,
    NotConnected,
    PublishFailed,
    RpcTimeout,
    Unroutable,
)
from shared.envelope import Envelope

PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)
NOT_PERSISTENT = int(aio_pika.DeliveryMode.NOT_PERSISTENT)

log = logging.getLogger(__name__)


class Bus:
    """A process's connection to RabbitMQ: confirmed publishing, RPC and batch consumers."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        prefetch: int = 200,
        delivery_limit: int | None = None,
        publish_timeout: float = 10.0,
        reconnect_interval: float = 2.0,
    ) -> None:
        self.url = url
        self.name = name
        self.prefetch = prefetch
        self.publish_timeout = publish_timeout
        self.metrics = BusMetrics()
        self._delivery_limit = delivery_limit
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._reply_channel: AbstractRobustChannel | None = None
        self._events_channel: AbstractRobustChannel | None = None
        self._event_runs: list[tuple[str, list[Envelope], asyncio.Future[None]]] = []
        """Events of this turn of the loop, in runs of one action (`publish_event`)."""
        self._event_flushes: set[asyncio.Task[None]] = set()
        self.reply_queue = f"csms.reply.{name}.{uuid.uuid4().hex[:12]}"
        self._pending: dict[str, asyncio.Future[Envelope]] = {}
        self._queues: dict[str, AbstractRobustQueue] = {}
        self._limits: dict[str, int] = {}
        self._consumers: list[tuple[Consumer, AbstractRobustChannel]] = []
        self._heal_lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self.heal_interval = 1.0
        """Seconds between checks that every channel of an open connection is open (`heal`)."""
        self.heal_grace = 15.0
        """Seconds a channel must have been seen closed under a connected connection before
        `heal` reopens it: aio_pika restores channels itself right after a reconnect, and
        reopening one it is restoring breaks both (DuplicateConsumerTag, seen in chaos)."""
        self._closed_since: dict[int, float] = {}

    @property
    def delivery_limit(self) -> int:
        """`x-delivery-limit` of service queues (default: CSMS_CONSUMER_MAX_REDELIVERIES)."""
        if self._delivery_limit is None:
            from shared.settings import get_settings

            self._delivery_limit = get_settings().consumer_max_redeliveries
        return self._delivery_limit

    @property
    def connection(self) -> AbstractRobustConnection:
        """The robust connection (raises NotConnected before connect / after close)."""
        if self._connection is None:
            raise NotConnected(f"bus {self.name!r} is not connected")
        return self._connection

    @property
    def channel(self) -> AbstractRobustChannel:
        """The publishing channel (publisher confirms, returns raise)."""
        if self._channel is None:
            raise NotConnected(f"bus {self.name!r} is not connected")
        return self._channel

    @property
    def is_connected(self) -> bool:
        """True while the connection is up (False during a reconnect); for /readyz."""
        conn = self._connection
        return conn is not None and not conn.is_closed and conn.connected.is_set()

    async def connect(self) -> None:
        """Connect (robust), open the confirm channel, declare topology and the reply queue."""
        if self._connection is not None:
            return
        # What aio_pika.connect_robust does, keeping hold of the connection object: a failed
        # first attempt must be closed here, or its __del__ schedules a close coroutine that a
        # stopped loop never awaits.
        conn = aio_pika.RobustConnection(
            make_url(self.url, reconnect_interval=self._reconnect_interval),
            client_properties={"connection_name": self.name},
            reconnect_interval=self._reconnect_interval,
        )
        try:
            await conn.connect()
            channel = await conn.channel(publisher_confirms=True, on_return_raises=True)
            await topology.declare(channel)
            reply_channel = await conn.channel(publisher_confirms=False)
            events_channel = await conn.channel(publisher_confirms=False)
            # A client-chosen name: the robust channel re-declares the same queue and restores
            # its consumer after a reconnect, so reply_to stays valid for later calls.
            reply_queue = await reply_channel.declare_queue(
                self.reply_queue, exclusive=True, auto_delete=True
            )
            await reply_queue.consume(self._on_reply, no_ack=True)
        except BaseException:
            await conn.close()
            raise
        conn.reconnect_callbacks.add(self._on_reconnect)
        self._connection, self._channel, self._reply_channel = conn, channel, reply_channel
        self._events_channel = events_channel
        self._watchdog = asyncio.create_task(self._watch_channels(), name=f"bus-{self.name}-heal")
        log.info("bus %s connected", self.name)

    async def close(self, timeout: float = 30.0) -> None:
        """Stop consumers (in-flight batches finish and ack), fail pending RPCs, disconnect."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        consumers, self._consumers = self._consumers, []
        await asyncio.gather(*(consumer.stop(timeout) for consumer, _ in consumers))
        for _, channel in consumers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await channel.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NotConnected(f"bus {self.name!r} closed"))
        self._pending.clear()
        conn, self._connection = self._connection, None
        self._channel = self._reply_channel = self._events_channel = None
        self._queues.clear()
        if conn is not None and not conn.is_closed:
            await conn.close()
        log.info("bus %s closed", self.name)

    def _open_channels(self) -> list[AbstractRobustChannel]:
        channels = [self._channel, self._reply_channel, self._events_channel]
        channels.extend(channel for _, channel in self._consumers)
        return [channel for channel in channels if channel is not None]

    async def heal(self) -> int:
        """Reopen every channel that closed while its connection stayed up; how many.

        aio_pika restores a robust channel when the *connection* comes back, not when the
        channel alone closes with a cancelled RPC ("Closing channel because RPC call
        Channel.Close cancelled", seen in `make chaos` under load): such a channel stayed
        closed for good, and the gateway failed every publish and RPC while looking alive.
        A channel reopened here re-declares its queues and restores its consumers (the reply
        queue included), as after a reconnect.
        """
        if not self.is_connected:
            self._closed_since.clear()  # the robust connection restores them on reconnect
            return 0
        now = asyncio.get_running_loop().time()
        reopened = 0
        async with self._heal_lock:
            channels = self._open_channels()
            seen = {id(channel) for channel in channels}
            for key in [k for k in self._closed_since if k not in seen]:
                del self._closed_since[key]
            for channel in channels:
                if not channel.is_closed:
                    self._closed_since.pop(id(channel), None)
                    continue
                since = self._closed_since.setdefault(id(channel), now)
                if now - since < self.heal_grace or not self.is_connected:
                    continue
                try:
                    async with asyncio.timeout(self.publish_timeout):
                        await channel.reopen()
                except (AMQPError, ChannelInvalidStateError, ConnectionError, TimeoutError) as exc:
                    log.warning("bus %s: reopening a closed channel failed: %r", self.name, exc)
                    continue
                self._closed_since.pop(id(channel), None)
                reopened += 1
                self.metrics.channels_reopened += 1
                log.warning(
                    "bus %s: a channel closed for %.0fs under an open connection; reopened",
                    self.name,
                    now - since,
                )
        return reopened

    async def _watch_channels(self) -> None:
        while True:
            await asyncio.sleep(self.heal_interval)
            try:
                await self.heal()
            except Exception:  # a watchdog that dies heals nothing: log and keep watching
                log.exception("bus %s: channel check failed", self.name)

    def _on_reconnect(self, *_: object) -> None:
        self.metrics.reconnects += 1
        log.warning("bus %s reconnected; topology, reply queue and consumers restored", self.name)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        mandatory: bool = False,
        expiration: float | None = None,
        reply_to: str | None = None,
        correlation_id: str | None = None,
        persistent: bool = True,
        expect_unroutable: bool = False,
    ) -> None:
        """Publish and wait for the broker's confirm; raise Unroutable or PublishFailed.

        `expect_unroutable`: Unroutable is an expected answer (a probe such as the gateway's
        takeover RPC), not a lost message: it is not counted in `metrics.unroutable`.
        """
        # The properties directly (pamqp's), not through aio_pika.Message: its validation and
        # conversions cost more CPU than the publish itself on the gateway's hot path.
        properties = Basic.Properties(
            content_type="application/json",
            delivery_mode=PERSISTENT if persistent else NOT_PERSISTENT,
            # Unique per publish: aiormq matches a basic.return to its publish by message_id.
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC),
            expiration=None if expiration is None else str(int(expiration * 1000)),
            reply_to=reply_to,
            correlation_id=correlation_id,
            app_id=self.name,
        )
        await self._publish_confirmed(
            exchange,
            routing_key,
            envelope.to_bytes(),
            properties,
            mandatory=mandatory,
            expect_unroutable=expect_unroutable,
        )

    async def _publish_confirmed(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Basic.Properties,
        *,
        mandatory: bool,
        expect_unroutable: bool = False,
    ) -> None:
        """basic.publish on the confirm channel; wait for the confirm (see `publish`).

        The publish runs in the caller's task, not in a task of its own shielded from
        cancellation (one task per publish was a tenth of the gateway's CPU per message):
        aiormq's `basic_publish` is itself safe to cancel at any point. Cancelled before its
        frames are queued (a timeout, a charge point that hung up), it takes its delivery tag
        back and the broker never sees the message; cancelled after, only the wait for the
        confirm stops (the confirm future is cancelled and the broker's late ack ignored).
        Neither is a channel RPC, so neither closes the channel. aiormq says as much: "Keep
        cancellation in this task: a wait_for task could enqueue a frame just before its
        caller is cancelled, making rollback unsafe."
        """
        channel = self.channel
        try:
            async with asyncio.timeout(self.publish_timeout):
                underlay = await channel.get_underlay_channel()
                await underlay.basic_publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    properties=properties,
                    mandatory=mandatory,
                )
        except PublishError:
            if not expect_unroutable:
                self.metrics.unroutable += 1
            raise Unroutable(exchange, routing_key) from None
        except DeliveryError as exc:
            self.metrics.publish_failed += 1
            raise PublishFailed(f"broker refused {routing_key!r} on {exchange!r}: {exc}") from exc
        except TimeoutError as exc:
            self.metrics.publish_failed += 1
            raise PublishFailed(
                f"no confirm for {routing_key!r} on {exchange!r} within {self.publish_timeout}s"
            ) from exc
        except (AMQPError, ChannelInvalidStateError, ConnectionError) as exc:
            self.metrics.publish_failed += 1
            raise PublishFailed(f"publish of {routing_key!r} on {exchange!r}: {exc!r}") from exc
        self.metrics.published += 1

    async def dead_letter(
        self, message: AbstractIncomingMessage, note: DeathNote, body: bytes | None = None
    ) -> None:
        """Publish a consumed message to `csms.dead-letter` with why it died; confirmed.

        Body and properties are the message's own, with the `x-csms-*` headers added and
        two exceptions: `expiration` is moved to a header (a dead letter must not expire in
        the dead-letter queue) and `user_id` is left out (the broker refuses a publish whose
        user_id is not the publishing connection's user). The routing key is the original
        one. Raises Unroutable / PublishFailed; the consumer then rejects the message.
        `body`: one envelope of a batch message (shared/bus/batch.py), dead-lettered alone as
        a plain envelope message.
        """
        routing_key = message.routing_key or ""
        headers: dict[str, Any] = dict(message.headers or {})
        headers.update(note.headers(routing_key))
        expiration = message.expiration  # seconds, as aio-pika decodes it
        if isinstance(expiration, int | float):
            headers[ORIGINAL_EXPIRATION] = str(round(expiration * 1000))
        elif expiration is not None:
            headers[ORIGINAL_EXPIRATION] = str(expiration)
        properties = Basic.Properties(
            content_type=message.content_type if body is None else ENVELOPE_CONTENT_TYPE,
            content_encoding=message.content_encoding,
            headers=headers,
            delivery_mode=message.delivery_mode,
            priority=message.priority,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            message_id=message.message_id,
            timestamp=message.timestamp,
            message_type=message.type,
            app_id=message.app_id,
        )
        await self._publish_confirmed(
            topology.DEAD_LETTER,
            routing_key,
            message.body if body is None else body,
            properties,
            mandatory=True,
        )

    async def publish_batch(
        self,
        exchange: str,
        routing_key: str,
        envelopes: Sequence[Envelope],
        *,
        mandatory: bool = False,
    ) -> None:
        """Publish several envelopes as ONE persistent message and wait for its confirm
        (shared/bus/batch.py; consumers unpack it); raise Unroutable or PublishFailed."""
        properties = Basic.Properties(
            content_type=BATCH_CONTENT_TYPE,
            delivery_mode=PERSISTENT,
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC),
            app_id=self.name,
        )
        await self._publish_confirmed(
            exchange, routing_key, batch_body(envelopes), properties, mandatory=mandatory
        )

    async def publish_event(self, envelope: Envelope) -> None:
        """Publish a domain event on `csms.events`, routing key = its action.

        Events are notifications of what is already committed in Postgres, so they go on a
        channel without publisher confirms: a confirm costs ~100 µs of CPU per message, which
        on the MeterValues hot path doubled the consumer's cost. Consumers of events recompute
        from the database, so an event lost to a broker crash delays, never corrupts.

        Events published in the same turn of the event loop (a batch's events, which the
        Dispatcher publishes together after its commit) leave as one broker message per run
        of consecutive events with the same action (shared/bus/batch.py; consumers unpack
        it): a boot storm's batch of 50 `chargepoint.connected` is one message, not 50.
        The order of the events is kept; one alone is a plain envelope message as before.
        """
        if self._events_channel is None:
            raise NotConnected(f"bus {self.name!r} is not connected")
        runs = self._event_runs
        if runs and runs[-1][0] == envelope.action:
            done = runs[-1][2]
            runs[-1][1].append(envelope)
        else:
            done = asyncio.get_running_loop().create_future()
            runs.append((envelope.action, [envelope], done))
        if len(runs) == 1 and len(runs[0][1]) == 1:  # the first of this turn: flush after it
            asyncio.get_running_loop().call_soon(self._schedule_event_flush)
        await done

    def _schedule_event_flush(self) -> None:
        task = asyncio.ensure_future(self._flush_events())
        self._event_flushes.add(task)
        task.add_done_callback(self._event_flushes.discard)

    async def _flush_events(self) -> None:
        runs, self._event_runs = self._event_runs, []
        for action, envelopes, done in runs:
            try:
                await self._publish_events(action, envelopes)
            except Exception as exc:  # noqa: BLE001 - handed to every waiter of the run
                if not done.done():
                    done.set_exception(exc)
            else:
                if not done.done():
                    done.set_result(None)

    async def _publish_events(self, action: str, envelopes: list[Envelope]) -> None:
        channel = self._events_channel
        if channel is None:
            raise NotConnected(f"bus {self.name!r} is not connected")
        single = len(envelopes) == 1
        try:
            underlay = await channel.get_underlay_channel()
            await underlay.basic_publish(
                envelopes[0].to_bytes() if single else batch_body(envelopes),
                exchange=topology.EVENTS,
                routing_key=action,
                properties=Basic.Properties(
                    content_type=ENVELOPE_CONTENT_TYPE if single else BATCH_CONTENT_TYPE,
                    delivery_mode=2,
                    message_id=uuid.uuid4().hex,
                    app_id=self.name,
                ),
            )
        except (AMQPError, ChannelInvalidStateError, ConnectionError) as exc:
            self.metrics.publish_failed += len(envelopes)
            raise PublishFailed(f"event {action!r}: {exc!r}") from exc
        self.metrics.published += len(envelopes)

    async def rpc(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        timeout: float,
        mandatory: bool = True,
        expect_unroutable: bool = False,
    ) -> Envelope:
        """Publish a request (expiring after `timeout`) and wait for its reply."""
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        self.metrics.rpc_calls += 1
        try:
            async with asyncio.timeout(timeout):
                await self.publish(
                    exchange,
                    routing_key,
                    envelope,
                    mandatory=mandatory,
                    expiration=timeout,
                    reply_to=self.reply_queue,
                    correlation_id=correlation_id,
                    expect_unroutable=expect_unroutable,
                )
                return await future
        except TimeoutError:
            self.metrics.rpc_timeouts += 1
            raise RpcTimeout(
                f"no reply to {routing_key!r} on {exchange!r} within {timeout}s"
            ) from None
        finally:
            self._pending.pop(correlation_id, None)

    async def reply(self, request: AbstractIncomingMessage, envelope: Envelope) -> None:
        """Answer an RPC request: to its reply_to, with its correlation_id."""
        if not request.reply_to:
            raise ValueError("the request has no reply_to")
        await self.publish(
            "",
            request.reply_to,
            envelope,
            correlation_id=request.correlation_id,
            persistent=False,
        )

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        correlation_id = message.correlation_id
        future = self._pending.get(correlation_id) if correlation_id else None
        if future is None or future.done():
            self.metrics.late_replies += 1
            log.debug("dropping reply with unknown correlation id %s (late)", correlation_id)
            return
        try:
            envelope = Envelope.from_bytes(message.body)
        except (ValueError, ValidationError) as exc:
            log.error("reply %s is not an Envelope", correlation_id, exc_info=exc)
            future.set_exception(InvalidEnvelope(f"reply is not an Envelope: {exc}"))
            return
        future.set_result(envelope)

    async def consume(
        self,
        queue: str,
        handler: BatchHandler,
        *,
        max_batch: int = 200,
        max_wait: float = 0.005,
    ) -> Consumer:
        """Start consuming an existing queue in batches on its own channel; return the Consumer."""
        conn = self.connection
        channel = await conn.channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=max(self.prefetch, max_batch))
            amqp_queue = await channel.declare_queue(queue, passive=True)
            consumer = Consumer(
                queue,
                handler,
                reply=self.reply,
                metrics=self.metrics,
                dead_letter=self.dead_letter,
                # Known for the queues this Bus declared with their arguments; elsewhere the
                # broker's own limit applies (x-death `delivery_limit`).
                delivery_limit=self._limits.get(queue),
                max_batch=max_batch,
                max_wait=max_wait,
            )
            await consumer.start(amqp_queue)
        except BaseException:
            with contextlib.suppress(Exception):
                await channel.close()
            raise
        self._consumers.append((consumer, channel))
        return consumer

    async def declare_service_queue(
        self,
        name: str,
        routing_keys: list[tuple[str, str]],
        *,
        delivery_limit: int | None = None,
    ) -> None:
        """Declare a durable quorum queue with delivery limit and dead-lettering; bind it."""
        limit = self.delivery_limit if delivery_limit is None else delivery_limit
        arguments = topology.service_queue_arguments(limit)
        channel = self.channel
        # Try on a throwaway channel first: a queue that exists with other arguments
        # (e.g. CSMS_CONSUMER_MAX_REDELIVERIES changed) closes the channel with 406.
        probe = await self.connection.channel(publisher_confirms=False)
        try:
            await probe.declare_queue(name, durable=True, arguments=arguments, robust=False)
            matches = True
        except ChannelPreconditionFailed as exc:
            matches = False
            log.warning(
                "queue %s exists with other arguments than %s (%s); using it as it is "
                "(delete the queue, or use a policy, to change them)",
                name,
                arguments,
                exc,
            )
        finally:
            with contextlib.suppress(Exception):
                await probe.close()
        if matches:
            queue = await channel.declare_queue(name, durable=True, arguments=arguments)
            self._limits[name] = limit
        else:
            queue = await channel.declare_queue(name, passive=True)
        for exchange, key in routing_keys:
            await queue.bind(exchange, key)
        self._queues[name] = queue

    async def declare_gateway_queue(self, node_id: str) -> str:
        """Declare this gateway node's exclusive downstream queue; return its name."""
        name = topology.gateway_node_queue(node_id)
        # Its own channel: a broker handles queue.bind/unbind one at a time per channel, and a
        # storm of connects or disconnects (thousands of binds) must not hold up the
        # publishing channel's confirms behind them.
        channel = await self.connection.channel(publisher_confirms=False)
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        self._queues[name] = queue
        return name

    async def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        """Bind a queue declared by this Bus (kept across reconnects)."""
        await self._queue(queue).bind(exchange, routing_key)

    async def unbind(self, queue: str, exchange: str, routing_key: str) -> None:
        """Remove a binding made with `bind`."""
        await self._queue(queue).unbind(exchange, routing_key)

    def _queue(self, name: str) -> AbstractRobustQueue:
        try:
            return self._queues[name]
        except KeyError:
            raise ValueError(f"queue {name!r} was not declared by this bus") from None
