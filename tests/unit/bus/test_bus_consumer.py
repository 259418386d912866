"""Batch consumer outcomes (ack / reject / nack, replies) against fake broker messages."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import cast

import pytest
from aio_pika.abc import AbstractIncomingMessage

from shared.bus import (
    BusMetrics,
    Consumer,
    Delivery,
    InvalidEnvelope,
    Outcome,
    Reject,
    Rejected,
    Retry,
    decode,
)
from shared.envelope import Envelope, Kind

_TAGS = itertools.count(1)
_CHANNEL: list[FakeMessage] = []


class FakeMessage:
    """The part of an aio-pika IncomingMessage the consumer uses; records its settlement.

    Delivery tags grow like a channel's, and `ack(multiple=True)` settles every unsettled
    message up to this one's tag, as basic.ack(multiple) does.
    """

    def __init__(
        self,
        body: bytes,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
        redelivered: bool = False,
        routing_key: str = "ocpp16.Heartbeat",
    ) -> None:
        self.body = body
        self.reply_to = reply_to
        self.correlation_id = correlation_id
        self.redelivered = redelivered
        self.routing_key = routing_key
        self.message_id = "m"
        self.outcome: str | None = None
        self.delivery_tag = next(_TAGS)
        _CHANNEL.append(self)

    def _settle(self, outcome: str) -> None:
        assert self.outcome is None, f"settled twice: {self.outcome} then {outcome}"
        self.outcome = outcome

    async def ack(self, multiple: bool = False) -> None:
        self._settle("ack")
        if multiple:
            for other in _CHANNEL:
                if other.delivery_tag < self.delivery_tag and other.outcome is None:
                    other._settle("ack")

    async def nack(self, multiple: bool = False, requeue: bool = True) -> None:
        self._settle("requeue" if requeue else "drop")

    async def reject(self, requeue: bool = False) -> None:
        self._settle("requeue" if requeue else "dead-letter")


def envelope(n: int, **payload: object) -> Envelope:
    return Envelope(kind=Kind.CALL, action="Heartbeat", payload={"n": n, **payload})


def message(n: int, **kwargs: object) -> FakeMessage:
    return FakeMessage(envelope(n).to_bytes(), **kwargs)  # type: ignore[arg-type]


def as_messages(fakes: list[FakeMessage]) -> list[AbstractIncomingMessage]:
    return [cast(AbstractIncomingMessage, m) for m in fakes]


class Recorder:
    """A handler that records its batches and can fail or reject chosen deliveries."""

    def __init__(self, *, poison: int | None = None, reject: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.poison = poison
        self.reject = reject

    async def __call__(self, deliveries: list[Delivery]) -> Sequence[Outcome]:
        ns = [d.envelope.payload["n"] for d in deliveries]
        self.batches.append(ns)
        if self.poison in ns:
            raise RuntimeError("poison")
        return [
            Rejected("bad") if d.envelope.payload["n"] == self.reject else d.envelope.result({})
            for d in deliveries
        ]


def make_consumer(handler: object, replies: list[tuple[str | None, Envelope]]) -> Consumer:
    async def reply(request: AbstractIncomingMessage, env: Envelope) -> None:
        if request.reply_to == "broken":
            raise ConnectionError("reply channel gone")
        replies.append((request.correlation_id, env))

    return Consumer(
        "csms.test",
        handler,  # type: ignore[arg-type]
        reply=reply,
        metrics=BusMetrics(),
        max_batch=10,
        max_wait=0.01,
    )


def test_decode_refuses_what_is_not_an_envelope() -> None:
    for body in (b"not json", b"[]", b'{"kind": "nope", "action": "x"}', b'{"kind": "call"}'):
        with pytest.raises(InvalidEnvelope):
            decode(cast(AbstractIncomingMessage, FakeMessage(body)))


def test_decode_keeps_envelope_and_routing_key() -> None:
    env = envelope(1)
    delivery = decode(cast(AbstractIncomingMessage, FakeMessage(env.to_bytes(), routing_key="k")))
    assert delivery.envelope == env
    assert delivery.routing_key == "k"


async def test_batch_is_handled_once_then_acked_and_replied() -> None:
    handler = Recorder()
    replies: list[tuple[str | None, Envelope]] = []
    consumer = make_consumer(handler, replies)
    fakes = [message(i, reply_to="rq" if i % 2 else None, correlation_id=f"c{i}") for i in range(6)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 1, 2, 3, 4, 5]]
    assert [m.outcome for m in fakes] == ["ack"] * 6
    assert [c for c, _ in replies] == ["c1", "c3", "c5"]


async def test_poison_in_batch_is_isolated() -> None:
    handler = Recorder(poison=2)
    replies: list[tuple[str | None, Envelope]] = []
    consumer = make_consumer(handler, replies)
    fakes = [message(i) for i in range(4)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 1, 2, 3], [0], [1], [2], [3]]
    assert [m.outcome for m in fakes] == ["ack", "ack", "requeue", "ack"]


async def test_rejected_marker_dead_letters_only_that_delivery() -> None:
    handler = Recorder(reject=1)
    replies: list[tuple[str | None, Envelope]] = []
    consumer = make_consumer(handler, replies)
    fakes = [message(i, reply_to="rq") for i in range(3)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 1, 2]]
    assert [m.outcome for m in fakes] == ["ack", "dead-letter", "ack"]
    assert len(replies) == 2


async def test_reject_raised_dead_letters_the_single_delivery() -> None:
    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        if any(d.envelope.payload["n"] == 1 for d in deliveries):
            raise Reject("unknown charge point")
        return [None] * len(deliveries)

    consumer = make_consumer(handler, [])
    fakes = [message(i) for i in range(3)]
    await consumer.process(as_messages(fakes))
    assert [m.outcome for m in fakes] == ["ack", "dead-letter", "ack"]


async def test_invalid_body_is_dead_lettered_and_the_rest_handled() -> None:
    handler = Recorder()
    consumer = make_consumer(handler, [])
    fakes = [message(0), FakeMessage(b"\xff garbage"), message(2)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 2]]
    assert [m.outcome for m in fakes] == ["ack", "dead-letter", "ack"]


async def test_wrong_number_of_outcomes_counts_as_failure() -> None:
    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        return []

    consumer = make_consumer(handler, [])
    fakes = [message(0)]
    await consumer.process(as_messages(fakes))
    assert fakes[0].outcome == "requeue"


async def test_failed_reply_requeues_the_request() -> None:
    consumer = make_consumer(Recorder(), [])
    fakes = [message(0, reply_to="broken"), message(1, reply_to="rq")]
    await consumer.process(as_messages(fakes))
    assert [m.outcome for m in fakes] == ["requeue", "ack"]


async def test_worker_gathers_batches_and_stops_after_draining() -> None:
    handler = Recorder()
    consumer = make_consumer(handler, [])
    worker = asyncio.create_task(consumer._run())
    fakes = [message(i) for i in range(25)]
    for fake in fakes:
        await consumer.on_message(cast(AbstractIncomingMessage, fake))
    consumer._worker = worker
    await consumer.stop(timeout=5)
    assert worker.done()
    assert [n for batch in handler.batches for n in batch] == list(range(25))
    assert [len(b) for b in handler.batches] == [10, 10, 5]
    assert all(m.outcome == "ack" for m in fakes)


async def test_retry_holds_the_batch_without_spending_deliveries() -> None:
    """The database down (handler raises Retry): the batch is run again after a pause, its
    messages are neither nacked (no delivery counted) nor dead-lettered, then acked once."""
    calls = 0

    async def handler(deliveries: list[Delivery]) -> list[Envelope | None]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Retry("database unreachable")
        return [None] * len(deliveries)

    consumer = make_consumer(handler, [])
    consumer.retry_initial = 0.01
    fakes = [message(n) for n in range(3)]
    await consumer.process(as_messages(fakes))
    assert calls == 3
    assert [m.outcome for m in fakes] == ["ack", "ack", "ack"]
    assert consumer._metrics.handler_retries == 2
    assert consumer._metrics.requeued == 0 and consumer._metrics.dead_lettered == 0


async def test_retry_back_off_is_capped_below_the_upstream_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long Postgres outage: the pauses between two runs of a held batch grow, but never past
    `RETRY_MAX`, well under CSMS_UPSTREAM_CALL_TIMEOUT, so once the database is back a held RPC
    is answered before the gateway gives up on it. (The clock is the recorded pauses.)"""
    from shared.bus import consumer as consumer_module
    from shared.settings import Settings

    pauses: list[float] = []

    async def fake_sleep(delay: float) -> None:
        pauses.append(delay)

    monkeypatch.setattr("shared.bus.consumer.asyncio.sleep", fake_sleep)
    outage = 12  # runs refused: 0.5+1+2+2+... with the cap, 0.5+1+2+4+8+16+30... without
    calls = 0

    async def handler(deliveries: list[Delivery]) -> list[Envelope | None]:
        nonlocal calls
        calls += 1
        if calls <= outage:
            raise Retry("database unreachable")
        return [None] * len(deliveries)

    consumer = make_consumer(handler, [])
    fakes = [message(1)]
    await consumer.process(as_messages(fakes))
    assert fakes[0].outcome == "ack"
    assert len(pauses) == outage
    assert pauses[:3] == [0.5, 1.0, 2.0]
    upstream_timeout = Settings().upstream_call_timeout
    assert max(pauses) == consumer_module.RETRY_MAX
    assert consumer_module.RETRY_MAX <= upstream_timeout / 4
