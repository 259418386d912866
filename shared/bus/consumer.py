"""Batch consumer: prefetch, gather deliveries into batches, one handler call, then ack.

Outcomes are explicit per delivery: ack (after the handler returned); dead-letter with a
reason (`Rejected` in the result list, `Reject` raised for a single delivery, a body that is
not an Envelope, an error answer nobody waits for, a failure on the last allowed attempt:
published to `csms.dead-letter` with `x-csms-*` headers, then acked, see
shared/bus/deadletter.py); or nack with requeue (the handler failed on this delivery alone;
the next attempt may succeed).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Final, cast

import orjson
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, ConsumerTag
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pydantic import ValidationError

from shared.bus.batch import BATCH_CONTENT_TYPE, split_batch
from shared.bus.deadletter import (
    DATA_ERROR,
    HANDLER_REFUSED,
    INVALID_ENVELOPE,
    POISON,
    DeathNote,
    bounded,
)
from shared.bus.errors import BusError, InvalidEnvelope, Reject, Retry
from shared.envelope import Envelope, Kind

log = logging.getLogger(__name__)

RETRY_INITIAL: Final = 0.5
RETRY_MAX: Final = 2.0
"""Longest pause between two runs of a batch held by `Retry` (the database is down). It stays
well below CSMS_UPSTREAM_CALL_TIMEOUT (10 s): once Postgres is back, held RPCs (Authorize,
StartTransaction) are answered within ~2 s instead of timing out at the gateway."""


@dataclass(slots=True)
class BatchMessage:
    """A broker message carrying several envelopes (shared/bus/batch.py): settled once, when
    the last of its envelopes is; requeued whole if any of them must be retried."""

    message: AbstractIncomingMessage
    remaining: int
    requeue: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """One consumed envelope: parsed, and the broker message it came in (alone, or with
    others: `batch`)."""

    envelope: Envelope
    message: AbstractIncomingMessage
    routing_key: str
    batch: BatchMessage | None = None

    @property
    def redelivered(self) -> bool:
        """True when the broker delivered this message before (it may be a duplicate)."""
        return bool(self.message.redelivered)

    @property
    def reply_to(self) -> str | None:
        """The queue the sender waits on for a reply (RPC), if any."""
        return self.message.reply_to


@dataclass(frozen=True, slots=True)
class Rejected:
    """Handler outcome for one delivery: dead-letter it at once, no retry.

    `detail` says why in words; `reason` is the machine-readable `x-csms-death-reason`.
    """

    detail: str
    reason: str = HANDLER_REFUSED


Outcome = Envelope | Rejected | None
"""Per delivery: a reply Envelope (published if the message has reply_to), Rejected, or None."""

BatchHandler = Callable[[list[Delivery]], Awaitable[Sequence[Outcome]]]
"""Handles a batch in one database transaction; returns one outcome per delivery, in order."""

ReplyPublisher = Callable[[AbstractIncomingMessage, Envelope], Awaitable[None]]
DeadLetterPublisher = Callable[..., Awaitable[None]]
"""`(message, note[, body])`: publishes a message to `csms.dead-letter` with its death note
(confirmed), or raises; `body` replaces the message's (one envelope of a batch message)."""

CHANNEL_GONE: Final = (AMQPError, ChannelInvalidStateError, ConnectionError, TimeoutError)
"""What a consumer's channel operation (cancel, ack, nack, reject) raises when the channel or
the connection is gone: the broker redelivers what was not settled."""
PUBLISH_FAILED: Final = (BusError, *CHANNEL_GONE)
"""What publishing a reply or a dead letter raises (`Bus.publish`: Unroutable, PublishFailed,
NotConnected; a bare channel error from another publisher)."""

DELIVERY_COUNT_HEADER = "x-delivery-count"
"""Set by a quorum queue on a message it delivers again after a nack/return."""
REPLY_ERROR_CODE = "InternalError"
"""The error answered to an RPC caller whose request is dead-lettered (OCPP 1.6 and 2.0.1:
"An internal error occurred and the receiver was not able to process the requested Action
successfully"), so it does not wait for its timeout."""


@dataclass(slots=True)
class BusMetrics:
    """Counters kept by a Bus; exported to Prometheus elsewhere."""

    reconnects: int = 0
    published: int = 0
    publish_failed: int = 0
    unroutable: int = 0
    rpc_calls: int = 0
    rpc_timeouts: int = 0
    late_replies: int = 0
    consumed: int = 0
    batches: int = 0
    acked: int = 0
    redelivered: int = 0
    requeued: int = 0
    dead_lettered: int = 0
    handler_errors: int = 0
    handler_retries: int = 0
    channels_reopened: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def decode(message: AbstractIncomingMessage) -> Delivery:
    """Parse a consumed message into a Delivery; raise InvalidEnvelope if the body is not one."""
    try:
        envelope = Envelope.from_bytes(message.body)
    except (ValueError, ValidationError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise InvalidEnvelope(f"message body is not an Envelope: {exc}") from exc
    return Delivery(envelope=envelope, message=message, routing_key=message.routing_key or "")


_STOP = object()


class Consumer:
    """Consumes one queue with one worker: at most one batch in flight, in delivery order."""

    def __init__(
        self,
        queue: str,
        handler: BatchHandler,
        *,
        reply: ReplyPublisher,
        metrics: BusMetrics,
        dead_letter: DeadLetterPublisher | None = None,
        delivery_limit: int | None = None,
        max_batch: int = 200,
        max_wait: float = 0.005,
        retry_initial: float = RETRY_INITIAL,
        retry_max: float = RETRY_MAX,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_wait < 0:
            raise ValueError("max_wait must not be negative")
        self.queue = queue
        self.handler = handler
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._reply = reply
        self._publish_dead_letter = dead_letter
        self.delivery_limit = delivery_limit
        self._metrics = metrics
        self._buffer: asyncio.Queue[object] = asyncio.Queue()
        self._amqp_queue: AbstractQueue | None = None
        self._tag: ConsumerTag | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self, queue: AbstractQueue) -> None:
        """Start the worker, then consume `queue` (robust: restored after a reconnect)."""
        self._amqp_queue = queue
        self._worker = asyncio.create_task(self._run(), name=f"consumer:{self.queue}")
        self._tag = await queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """aio-pika callback: hand the message to the worker."""
        self._buffer.put_nowait(message)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming, let the worker finish what it holds (at most `timeout` s)."""
        if self._amqp_queue is not None and self._tag is not None:
            try:
                # A robust channel waits for a reconnect that may never come: bound it.
                async with asyncio.timeout(min(timeout, 5.0)):
                    await self._amqp_queue.cancel(self._tag)
            except CHANNEL_GONE as exc:  # the channel may be gone already
                log.debug("cancel of consumer on %s failed: %r", self.queue, exc)
            self._tag = None
        worker, self._worker = self._worker, None
        if worker is None or worker.done():
            return
        self._buffer.put_nowait(_STOP)
        try:
            await asyncio.wait_for(asyncio.shield(worker), timeout)
        except TimeoutError:
            log.warning(
                "consumer on %s did not finish within %.1fs; unacked messages will be redelivered",
                self.queue,
                timeout,
            )
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def _next_batch(self) -> tuple[list[AbstractIncomingMessage], bool]:
        """Wait for one message, then take what arrives within max_wait, up to max_batch."""
        first = await self._buffer.get()
        if first is _STOP:
            return [], True
        batch = [_as_message(first)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                item = self._buffer.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining):
                        item = await self._buffer.get()
                except TimeoutError:
                    break
            if item is _STOP:
                return batch, True
            batch.append(_as_message(item))
        return batch, False

    async def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = await self._next_batch()
            if not batch:
                continue
            try:
                await self.process(batch)
            except Exception:
                log.exception("consumer on %s failed on a batch of %d", self.queue, len(batch))

    async def process(self, messages: list[AbstractIncomingMessage]) -> None:
        """Decode, handle and settle (ack / reject / nack) a batch of messages."""
        self._metrics.batches += 1
        deliveries: list[Delivery] = []
        for message in messages:
            self._metrics.consumed += 1
            if message.redelivered:
                self._metrics.redelivered += 1
            if getattr(message, "content_type", None) == BATCH_CONTENT_TYPE:
                await self._unpack(message, deliveries)
                continue
            try:
                deliveries.append(decode(message))
            except InvalidEnvelope as exc:
                log.error(
                    "dead-lettering message %s from %s: %s", message.message_id, self.queue, exc
                )
                await self._dead_letter(message, INVALID_ENVELOPE, str(exc))
        if deliveries:
            await self._handle(deliveries)

    async def _unpack(self, message: AbstractIncomingMessage, into: list[Delivery]) -> None:
        """One delivery per envelope of a batch message; a part that is not an Envelope is
        dead-lettered alone (the whole message if it is not a batch at all)."""
        try:
            items = split_batch(message.body)
        except ValueError as exc:
            log.error("dead-lettering message %s from %s: %s", message.message_id, self.queue, exc)
            await self._dead_letter(message, INVALID_ENVELOPE, str(exc))
            return
        if not items:
            await _settle(message.ack(), message, "ack")
            return
        batch = BatchMessage(message, len(items))
        routing_key = message.routing_key or ""
        for item in items:
            try:
                envelope = Envelope.model_validate(item)
            except ValidationError as exc:
                log.error(
                    "dead-lettering an envelope of message %s from %s: %s",
                    message.message_id,
                    self.queue,
                    exc,
                )
                part = Delivery(_invalid(), message, routing_key, batch)
                await self._dead_letter_part(
                    part, INVALID_ENVELOPE, f"not an Envelope: {exc}", orjson.dumps(item)
                )
                continue
            into.append(Delivery(envelope, message, routing_key, batch))

    async def _handle(self, deliveries: list[Delivery]) -> None:
        try:
            outcomes = await self._run_handler(deliveries)
        except Reject as exc:
            if len(deliveries) > 1:
                self._metrics.handler_errors += 1
                # One line, no traceback: the culprit's own line follows when it is found.
                log.info(
                    "handler rejected a batch of %d from %s (%s); retrying one at a time",
                    len(deliveries),
                    self.queue,
                    exc.reason,
                )
                for delivery in deliveries:
                    await self._handle([delivery])
                return
            await self._reject(deliveries[0], exc.reason, exc.detail)
            return
        except Exception as exc:
            self._metrics.handler_errors += 1
            if len(deliveries) > 1:
                log.warning(
                    "handler failed on a batch of %d from %s; retrying one at a time",
                    len(deliveries),
                    self.queue,
                    exc_info=exc,
                )
                for delivery in deliveries:
                    await self._handle([delivery])
                return
            await self._failed(deliveries[0], exc)
            return
        await self._finish(deliveries, outcomes)

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        """The handler failed on this delivery alone: requeue it, or, on its last allowed
        attempt, dead-letter it as poison with the exception (the broker's own dead-lettering
        at the delivery limit could not say why)."""
        attempts = delivery_count(delivery.message) + 1
        if self.delivery_limit is not None and attempts > self.delivery_limit:
            log.error(
                "handler failed on %s %s from %s (correlation %s) on attempt %d, the last; "
                "dead-lettered",
                delivery.routing_key,
                delivery.envelope.unique_id,
                self.queue,
                delivery.envelope.correlation_id,
                attempts,
                exc_info=exc,
            )
            await self._dead_letter_delivery(
                delivery, POISON, f"failed {attempts} times; last: {exc!r}"
            )
            return
        log.error(
            "handler failed on %s %s from %s (correlation %s); requeued",
            delivery.routing_key,
            delivery.envelope.unique_id,
            self.queue,
            delivery.envelope.correlation_id,
            exc_info=exc,
        )
        self._metrics.requeued += 1
        await self._requeue(delivery)

    async def _run_handler(self, deliveries: list[Delivery]) -> list[Outcome]:
        """Call the handler; on `Retry`, hold the batch and call again after a pause (backoff).

        Until the handler can run the messages stay unacked: no nack, so no delivery is
        counted against them. A stop that comes meanwhile cancels the wait and the broker
        redelivers them.
        """
        delay = self.retry_initial
        while True:
            try:
                outcomes = list(await self.handler(deliveries))
            except Retry as exc:
                self._metrics.handler_retries += 1
                log.warning(
                    "handler could not run a batch of %d from %s (%s); again in %.1fs",
                    len(deliveries),
                    self.queue,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            if len(outcomes) != len(deliveries):
                raise RuntimeError(
                    f"handler returned {len(outcomes)} outcomes for {len(deliveries)} deliveries"
                )
            return outcomes

    async def _finish(self, deliveries: list[Delivery], outcomes: list[Outcome]) -> None:
        """Publish the replies (concurrently), then ack; dead-letter the Rejected ones and the
        error answers nobody waits for."""
        outcomes = [_unanswerable(d, o) for d, o in zip(deliveries, outcomes, strict=True)]
        replies: list[tuple[Delivery, Envelope]] = []
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            if isinstance(outcome, Envelope) and delivery.reply_to:
                replies.append((delivery, outcome))
        results = await asyncio.gather(
            *(self._reply(d.message, reply) for d, reply in replies), return_exceptions=True
        )
        failed = {id(d): r for (d, _), r in zip(replies, results, strict=True) if r is not None}
        if (
            not failed
            and not any(isinstance(o, Rejected) for o in outcomes)
            and _whole_messages(deliveries)
        ):
            # The common case: one basic.ack(multiple) settles the whole batch. Batches are
            # handled one at a time and in delivery order, so every earlier tag on this
            # channel is already settled.
            for delivery in deliveries:
                if delivery.batch is not None:
                    delivery.batch.remaining = 0
            last = max(deliveries, key=lambda d: d.message.delivery_tag or 0).message
            if await _settle(last.ack(multiple=True), last, "ack"):
                self._metrics.acked += len(deliveries)
            return
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            if isinstance(outcome, Rejected):
                await self._reject(delivery, outcome.reason, outcome.detail)
            elif (error := failed.get(id(delivery))) is not None:
                log.error(
                    "reply to %s for %s failed; requeued",
                    delivery.reply_to,
                    delivery.envelope.correlation_id,
                    exc_info=error,
                )
                self._metrics.requeued += 1
                await self._requeue(delivery)
            elif await self._ack(delivery):
                self._metrics.acked += 1

    async def _reject(self, delivery: Delivery, reason: str, detail: str) -> None:
        """Dead-letter a delivery the handler refused, in ONE log line (no traceback).

        An RPC caller is answered with an error first, so it does not wait for its timeout.
        """
        log.warning(
            "dead-lettered %s %s from %s (correlation %s): %s: %s",
            delivery.routing_key,
            delivery.envelope.unique_id,
            self.queue,
            delivery.envelope.correlation_id,
            reason,
            bounded(detail, 300),
        )
        if delivery.reply_to and delivery.envelope.kind is Kind.CALL:
            answer = delivery.envelope.error(REPLY_ERROR_CODE, _reply_description(reason))
            try:
                await self._reply(delivery.message, answer)
            except PUBLISH_FAILED as exc:
                log.warning("error reply to %s failed: %r", delivery.reply_to, exc)
        await self._dead_letter_delivery(delivery, reason, detail)

    async def _ack(self, delivery: Delivery) -> bool:
        """Settle one delivery as done (its batch message once all its envelopes are)."""
        if delivery.batch is None:
            return await _settle(delivery.message.ack(), delivery.message, "ack")
        return await self._part_done(delivery.batch, requeue=False)

    async def _requeue(self, delivery: Delivery) -> None:
        """Have the broker deliver it again (a batch message whole, once all are settled)."""
        if delivery.batch is None:
            await _settle(delivery.message.nack(requeue=True), delivery.message, "nack")
        else:
            await self._part_done(delivery.batch, requeue=True)

    async def _part_done(self, batch: BatchMessage, *, requeue: bool) -> bool:
        batch.remaining -= 1
        batch.requeue = batch.requeue or requeue
        if batch.remaining > 0:
            return True
        if batch.requeue:
            return await _settle(batch.message.nack(requeue=True), batch.message, "nack")
        return await _settle(batch.message.ack(), batch.message, "ack")

    async def _dead_letter_delivery(self, delivery: Delivery, reason: str, detail: str) -> None:
        if delivery.batch is None:
            await self._dead_letter(delivery.message, reason, detail)
        else:
            await self._dead_letter_part(delivery, reason, detail, delivery.envelope.to_bytes())

    async def _dead_letter_part(
        self, delivery: Delivery, reason: str, detail: str, body: bytes
    ) -> None:
        """Dead-letter one envelope of a batch message alone (`body`: its own JSON); if that
        publish fails, the whole message is requeued (the broker's delivery limit ends it)."""
        assert delivery.batch is not None
        note = DeathNote(reason=reason, detail=detail, queue=self.queue)
        if self._publish_dead_letter is not None:
            try:
                await self._publish_dead_letter(delivery.message, note, body)
            except PUBLISH_FAILED as exc:
                log.warning(
                    "dead letter of an envelope of %s (%s) not published (%r); requeueing it",
                    delivery.message.message_id,
                    reason,
                    exc,
                )
            else:
                self._metrics.dead_lettered += 1
                await self._part_done(delivery.batch, requeue=False)
                return
        await self._part_done(delivery.batch, requeue=True)

    async def _dead_letter(
        self, message: AbstractIncomingMessage, reason: str, detail: str
    ) -> None:
        """Publish to `csms.dead-letter` with why (confirmed), then ack; if that publish
        fails, reject without requeue (the broker dead-letters it, `x-death` only)."""
        note = DeathNote(reason=reason, detail=detail, queue=self.queue)
        if self._publish_dead_letter is not None:
            try:
                await self._publish_dead_letter(message, note)
            except PUBLISH_FAILED as exc:
                log.warning(
                    "dead letter %s (%s) not published (%r); rejecting it instead",
                    message.message_id,
                    reason,
                    exc,
                )
            else:
                if await _settle(message.ack(), message, "ack"):
                    self._metrics.dead_lettered += 1
                return
        if await _settle(message.reject(requeue=False), message, "reject"):
            self._metrics.dead_lettered += 1


def delivery_count(message: AbstractIncomingMessage) -> int:
    """How often the queue delivered this message before (0 on the first delivery)."""
    headers = message.headers or {}
    count = headers.get(DELIVERY_COUNT_HEADER)
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _whole_messages(deliveries: Sequence[Delivery]) -> bool:
    """Whether every batch message among `deliveries` has all its unsettled envelopes here
    (and none to be requeued): then one ack settles them all."""
    counts = Counter(id(d.batch) for d in deliveries if d.batch is not None)
    return all(
        d.batch.remaining == counts[id(d.batch)] and not d.batch.requeue
        for d in deliveries
        if d.batch is not None
    )


def _invalid() -> Envelope:
    """A stand-in envelope for a batch part that is not one (it is only dead-lettered)."""
    return Envelope(kind=Kind.EVENT, action="invalid")


def _unanswerable(delivery: Delivery, outcome: Outcome) -> Outcome:
    """An error answer with nowhere to go (no reply_to: a fire-and-forget message the gateway
    already answered, or a request published straight to the queue) is a refusal: it must
    reach the dead-letter queue, not vanish with an ack."""
    if isinstance(outcome, Envelope) and outcome.kind is Kind.ERROR and not delivery.reply_to:
        detail = f"{outcome.error_code}: {outcome.error_description or ''}".rstrip(": ")
        return Rejected(detail, HANDLER_REFUSED)
    return outcome


def _reply_description(reason: str) -> str:
    if reason == DATA_ERROR:
        return "the message could not be stored (a value the database refuses)"
    return f"the message was refused ({reason})"


def _as_message(item: object) -> AbstractIncomingMessage:
    return cast(AbstractIncomingMessage, item)  # everything but _STOP is a message


async def _settle(action: Awaitable[None], message: AbstractIncomingMessage, what: str) -> bool:
    """Run an ack/nack/reject; a closed channel means the broker redelivers, so only log."""
    try:
        await action
    except CHANNEL_GONE as exc:
        log.warning(
            "%s of message %s failed (%r); the broker will redeliver it",
            what,
            message.message_id,
            exc,
        )
        return False
    return True
