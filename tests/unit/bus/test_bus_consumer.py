"""Batch consumer outcomes (ack / reject / nack, replies) against fake broker messages."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import cast

import pytest
from aio_pika.abc import AbstractIncomingMessage

from shared.bus import (
    DATA_ERROR,
    HANDLER_REFUSED,
    INVALID_ENVELOPE,
    POISON,
    BusMetrics,
    Consumer,
    DeathNote,
    Delivery,
    InvalidEnvelope,
    Outcome,
    Reject,
    Rejected,
    Retry,
    decode,
)
from shared.bus.batch import BATCH_CONTENT_TYPE, batch_body
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
        headers: dict[str, object] | None = None,
    ) -> None:
        self.body = body
        self.content_type: str | None = "application/json"
        self.headers = headers or {}
        self.death: DeathNote | None = None
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

    @property
    def fate(self) -> str | None:
        """ack / requeue / dead-letter (published with a death note, then acked) /
        rejected (the fallback: reject without requeue)."""
        if self.death is not None and self.outcome == "ack":
            return "dead-letter"
        if self.outcome == "dead-letter":
            return "rejected"
        return self.outcome

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


def make_consumer(
    handler: object,
    replies: list[tuple[str | None, Envelope]],
    *,
    delivery_limit: int | None = None,
    dead_letter_fails: bool = False,
) -> Consumer:
    async def reply(request: AbstractIncomingMessage, env: Envelope) -> None:
        if request.reply_to == "broken":
            raise ConnectionError("reply channel gone")
        replies.append((request.correlation_id, env))

    async def dead_letter(message: AbstractIncomingMessage, note: DeathNote) -> None:
        if dead_letter_fails:
            raise ConnectionError("no confirm")
        fake = cast(FakeMessage, message)
        assert fake.outcome is None, "dead-lettered after it was settled"
        fake.death = note

    return Consumer(
        "csms.test",
        handler,  # type: ignore[arg-type]
        reply=reply,
        metrics=BusMetrics(),
        dead_letter=dead_letter,
        delivery_limit=delivery_limit,
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
    assert [m.fate for m in fakes] == ["ack"] * 6
    assert [c for c, _ in replies] == ["c1", "c3", "c5"]


async def test_poison_in_batch_is_isolated() -> None:
    handler = Recorder(poison=2)
    replies: list[tuple[str | None, Envelope]] = []
    consumer = make_consumer(handler, replies)
    fakes = [message(i) for i in range(4)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 1, 2, 3], [0], [1], [2], [3]]
    assert [m.fate for m in fakes] == ["ack", "ack", "requeue", "ack"]


async def test_rejected_marker_dead_letters_only_that_delivery() -> None:
    handler = Recorder(reject=1)
    replies: list[tuple[str | None, Envelope]] = []
    consumer = make_consumer(handler, replies)
    fakes = [message(i, reply_to="rq") for i in range(3)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 1, 2]]
    assert [m.fate for m in fakes] == ["ack", "dead-letter", "ack"]
    # The rejected request's caller is told at once (it would wait for its timeout).
    assert [e.kind for _, e in replies] == [Kind.RESULT, Kind.RESULT, Kind.ERROR]


async def test_reject_raised_dead_letters_the_single_delivery() -> None:
    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        if any(d.envelope.payload["n"] == 1 for d in deliveries):
            raise Reject("unknown charge point")
        return [None] * len(deliveries)

    consumer = make_consumer(handler, [])
    fakes = [message(i) for i in range(3)]
    await consumer.process(as_messages(fakes))
    assert [m.fate for m in fakes] == ["ack", "dead-letter", "ack"]


async def test_invalid_body_is_dead_lettered_and_the_rest_handled() -> None:
    handler = Recorder()
    consumer = make_consumer(handler, [])
    fakes = [message(0), FakeMessage(b"\xff garbage"), message(2)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 2]]
    assert [m.fate for m in fakes] == ["ack", "dead-letter", "ack"]


async def test_wrong_number_of_outcomes_counts_as_failure() -> None:
    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        return []

    consumer = make_consumer(handler, [])
    fakes = [message(0)]
    await consumer.process(as_messages(fakes))
    assert fakes[0].fate == "requeue"


async def test_failed_reply_requeues_the_request() -> None:
    consumer = make_consumer(Recorder(), [])
    fakes = [message(0, reply_to="broken"), message(1, reply_to="rq")]
    await consumer.process(as_messages(fakes))
    assert [m.fate for m in fakes] == ["requeue", "ack"]


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
    assert all(m.fate == "ack" for m in fakes)


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
    assert [m.fate for m in fakes] == ["ack", "ack", "ack"]
    assert consumer._metrics.handler_retries == 2
    assert consumer._metrics.requeued == 0 and consumer._metrics.dead_lettered == 0


def deaths(fakes: list[FakeMessage]) -> list[tuple[str, str] | None]:
    return [(m.death.reason, m.death.detail) if m.death else None for m in fakes]


async def test_dead_letters_carry_reason_and_queue() -> None:
    consumer = make_consumer(Recorder(reject=1), [])
    fakes = [message(0), message(1), FakeMessage(b"\xff garbage")]
    await consumer.process(as_messages(fakes))
    assert [m.fate for m in fakes] == ["ack", "dead-letter", "dead-letter"]
    assert fakes[1].death == DeathNote(HANDLER_REFUSED, "bad", "csms.test")
    assert fakes[2].death is not None and fakes[2].death.reason == INVALID_ENVELOPE
    assert "not an Envelope" in fakes[2].death.detail
    assert consumer._metrics.dead_lettered == 2


async def test_error_answer_nobody_waits_for_is_dead_lettered_not_acked() -> None:
    """A fire-and-forget message (no reply_to) the handler answers with an error: the gateway
    already answered it, so the error would vanish with the ack. It is a dead letter."""

    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        return [d.envelope.error("FormationViolation", "connectorId 'abc'") for d in deliveries]

    replies: list[tuple[str | None, Envelope]] = []
    consumer = make_consumer(handler, replies)
    fakes = [message(0), message(1, reply_to="rq", correlation_id="c1")]
    await consumer.process(as_messages(fakes))
    assert [m.fate for m in fakes] == ["dead-letter", "ack"]
    assert deaths(fakes)[0] == (HANDLER_REFUSED, "FormationViolation: connectorId 'abc'")
    assert [(c, e.error_code) for c, e in replies] == [("c1", "FormationViolation")]


async def test_data_error_is_dead_lettered_at_once_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The dispatcher raises Reject(reason="data-error") when Postgres refuses a value: the
    batch is split to find the culprit, which is dead-lettered at once (never requeued),
    with one WARNING line and no traceback; an RPC caller gets an error answer at once."""
    calls: list[list[int]] = []

    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        ns = [d.envelope.payload["n"] for d in deliveries]
        calls.append(ns)
        if 2 in ns:
            raise Reject("SQLSTATE 22021: invalid byte sequence 0x00", reason=DATA_ERROR)
        return [None] * len(deliveries)

    replies: list[tuple[str | None, Envelope]] = []
    consumer = make_consumer(handler, replies, delivery_limit=5)
    fakes = [
        message(n, reply_to="rq" if n == 2 else None, correlation_id=f"c{n}") for n in range(4)
    ]
    with caplog.at_level(logging.INFO, logger="shared.bus"):
        await consumer.process(as_messages(fakes))
    assert calls == [[0, 1, 2, 3], [0], [1], [2], [3]]
    assert [m.fate for m in fakes] == ["ack", "ack", "dead-letter", "ack"]
    assert deaths(fakes)[2] == (DATA_ERROR, "SQLSTATE 22021: invalid byte sequence 0x00")
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1 and loud[0].exc_info is None
    assert "data-error" in loud[0].getMessage()
    assert [(c, e.kind, e.error_code) for c, e in replies] == [("c2", Kind.ERROR, "InternalError")]
    assert consumer._metrics.requeued == 0


async def test_failure_on_the_last_allowed_attempt_is_poison_with_the_exception() -> None:
    """limit N = N+1 attempts: attempt k carries x-delivery-count k-1. Earlier attempts are
    requeued; the last is dead-lettered by the consumer with the exception as the detail."""
    consumer = make_consumer(Recorder(poison=0), [], delivery_limit=2)
    attempts = [message(0, headers={"x-delivery-count": n} if n else None) for n in range(3)]
    for fake in attempts:
        await consumer.process(as_messages([fake]))
    assert [m.fate for m in attempts] == ["requeue", "requeue", "dead-letter"]
    death = attempts[2].death
    assert death is not None and death.reason == POISON
    assert "failed 3 times" in death.detail and "RuntimeError('poison')" in death.detail


async def test_without_a_known_limit_failures_are_always_requeued() -> None:
    consumer = make_consumer(Recorder(poison=0), [])
    fake = message(0, headers={"x-delivery-count": 50})
    await consumer.process(as_messages([fake]))
    assert fake.fate == "requeue"


async def test_dead_letter_publish_failure_falls_back_to_reject() -> None:
    consumer = make_consumer(Recorder(reject=0), [], dead_letter_fails=True)
    fake = message(0)
    await consumer.process(as_messages([fake]))
    assert fake.fate == "rejected"
    assert consumer._metrics.dead_lettered == 1


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
    assert fakes[0].fate == "ack"
    assert len(pauses) == outage
    assert pauses[:3] == [0.5, 1.0, 2.0]
    upstream_timeout = Settings().upstream_call_timeout
    assert max(pauses) == consumer_module.RETRY_MAX
    assert upstream_timeout / 4 >= consumer_module.RETRY_MAX


# ---------------------------------------------------------------- batch messages (issue 15)


def batch(*ns: int, extra: bytes = b"") -> FakeMessage:
    """A message carrying several envelopes (shared/bus/batch.py), as the gateway publishes."""
    body = batch_body([envelope(n) for n in ns])
    if extra:
        body = body[:-1] + b"," + extra + b"]"
    fake = FakeMessage(body)
    fake.content_type = BATCH_CONTENT_TYPE
    return fake


def make_part_consumer(handler: object, dead: list[tuple[DeathNote, bytes | None]]) -> Consumer:
    async def reply(request: AbstractIncomingMessage, env: Envelope) -> None:
        raise AssertionError("a batch message is never an RPC")

    async def dead_letter(
        message: AbstractIncomingMessage, note: DeathNote, body: bytes | None = None
    ) -> None:
        assert cast(FakeMessage, message).outcome is None, "dead-lettered after it was settled"
        dead.append((note, body))

    return Consumer(
        "csms.test",
        handler,  # type: ignore[arg-type]
        reply=reply,
        metrics=BusMetrics(),
        dead_letter=dead_letter,
    )


async def test_a_batch_message_is_one_delivery_per_envelope_and_one_ack() -> None:
    handler = Recorder()
    consumer = make_part_consumer(handler, [])
    fakes = [message(0), batch(1, 2, 3), message(4)]
    await consumer.process(as_messages(fakes))
    assert handler.batches == [[0, 1, 2, 3, 4]]
    assert [m.fate for m in fakes] == ["ack"] * 3  # each settled exactly once (FakeMessage)


async def test_a_rejected_envelope_of_a_batch_is_dead_lettered_alone() -> None:
    handler = Recorder(reject=2)
    dead: list[tuple[DeathNote, bytes | None]] = []
    consumer = make_part_consumer(handler, dead)
    fake = batch(1, 2, 3)
    await consumer.process(as_messages([fake]))
    assert fake.fate == "ack"  # the other two were handled
    [(note, body)] = dead
    assert note.reason == HANDLER_REFUSED
    assert body is not None and Envelope.from_bytes(body).payload == {"n": 2}


async def test_a_failing_envelope_of_a_batch_requeues_the_message_once() -> None:
    handler = Recorder(poison=2)
    consumer = make_part_consumer(handler, [])
    fakes = [batch(1, 2, 3), message(4)]
    await consumer.process(as_messages(fakes))
    # Retried one at a time; the batch message is settled once, after its last envelope.
    assert handler.batches == [[1, 2, 3, 4], [1], [2], [3], [4]]
    assert [m.fate for m in fakes] == ["requeue", "ack"]


async def test_an_envelope_of_a_batch_that_is_not_one_is_dead_lettered_alone() -> None:
    handler = Recorder()
    dead: list[tuple[DeathNote, bytes | None]] = []
    consumer = make_part_consumer(handler, dead)
    fake = batch(1, 2, extra=b'{"kind": "nope"}')
    await consumer.process(as_messages([fake]))
    assert handler.batches == [[1, 2]]
    assert fake.fate == "ack"
    [(note, body)] = dead
    assert note.reason == INVALID_ENVELOPE and body == b'{"kind":"nope"}'


async def test_a_batch_body_that_is_no_array_is_dead_lettered_whole() -> None:
    dead: list[tuple[DeathNote, bytes | None]] = []
    consumer = make_part_consumer(Recorder(), dead)
    fake = FakeMessage(envelope(1).to_bytes())
    fake.content_type = BATCH_CONTENT_TYPE
    await consumer.process(as_messages([fake]))
    # Published to the dead-letter exchange whole (no body of its own), then acked.
    assert fake.fate == "ack" and [(n.reason, b) for n, b in dead] == [(INVALID_ENVELOPE, None)]
