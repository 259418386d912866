"""The Bus against the real RabbitMQ (vhost csms_test)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from shared.bus import (
    DATA_ERROR,
    DEAD_LETTER,
    DEATH_DETAIL,
    DEATH_REASON,
    DOWNSTREAM,
    EVENTS,
    HANDLER_REFUSED,
    INVALID_ENVELOPE,
    ORIGINAL_QUEUE,
    ORIGINAL_ROUTING_KEY,
    POISON,
    UPSTREAM,
    Bus,
    Delivery,
    Outcome,
    Reject,
    Rejected,
    RpcTimeout,
    Unroutable,
)
from shared.envelope import Envelope, Kind, event
from tests.fixtures.bus import BusFactory, NameFactory, kill_connection
from tests.patience import PATIENCE, eventually

pytestmark = pytest.mark.integration


def call(action: str = "Heartbeat", **payload: object) -> Envelope:
    return Envelope(
        kind=Kind.CALL,
        action=action,
        payload=dict(payload),
        chargepoint_id="CP-1",
        ocpp_version="ocpp1.6",
        unique_id="u-1",
        correlation_id="c-1",
        node_id="gw-1",
    )


async def service_queue(bus: Bus, unique_name: NameFactory, *, limit: int = 3) -> tuple[str, str]:
    """A fresh quorum service queue bound to a unique upstream action; (queue, routing key)."""
    queue = unique_name("svc")
    # Not `ocpp16.*`: other suites share the vhost and may bind `ocpp16.#` on ocpp.upstream.
    key = f"bustest.{queue.rsplit('.', 1)[1]}"
    await bus.declare_service_queue(queue, [(UPSTREAM, key)], delivery_limit=limit)
    return queue, key


async def dead_letter_watch(bus: Bus, unique_name: NameFactory) -> AbstractQueue:
    """A private queue on the dead-letter fanout: sees every message dead-lettered from now."""
    queue = await bus.channel.declare_queue(unique_name("dlwatch"), durable=False)
    await queue.bind(DEAD_LETTER, "")
    return queue


def dead_from(message: AbstractIncomingMessage) -> object:
    """The queue a dead letter came from: ours say so in a header, the broker's in x-death."""
    return message.headers.get(ORIGINAL_QUEUE) or message.headers.get("x-first-death-queue")


def dead_because(message: AbstractIncomingMessage) -> object:
    """Why: our consumer's `x-csms-death-reason`, else the broker's first x-death reason."""
    return message.headers.get(DEATH_REASON) or message.headers.get("x-first-death-reason")


async def get_dead_messages(
    watch: AbstractQueue, queue: str, count: int, timeout: float = PATIENCE, reason: str = ""
) -> list[AbstractIncomingMessage]:
    """`count` messages dead-lettered from `queue` (others' are skipped), for `reason`
    (`expired`, `delivery_limit`, `poison`, ...) if given."""
    got: list[AbstractIncomingMessage] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < count:
        message = await watch.get(no_ack=True, fail=False)
        if message is not None:
            if dead_from(message) == queue and (not reason or dead_because(message) == reason):
                got.append(message)
        elif loop.time() > deadline:
            pytest.fail(f"only {len(got)} of {count} messages were dead-lettered")
        else:
            await asyncio.sleep(0.05)
    return got


async def get_dead_letters(
    watch: AbstractQueue, queue: str, count: int, timeout: float = PATIENCE, reason: str = ""
) -> list[bytes]:
    """The bodies of `count` messages dead-lettered from `queue` (others' are skipped)."""
    return [m.body for m in await get_dead_messages(watch, queue, count, timeout, reason)]


async def ready_count(amqp_url: str, queue: str) -> int:
    """Messages ready in `queue` (after consumers closed, that includes unacked ones)."""
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await conn.close()


Handler = Callable[[list[Delivery]], Awaitable[Sequence[Outcome]]]


def recording(
    into: list[Delivery], answer: Callable[[Delivery], Outcome] = lambda d: None
) -> Handler:
    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        into.extend(deliveries)
        return [answer(d) for d in deliveries]

    return handler


async def test_publish_consume_round_trip(bus: Bus, unique_name: NameFactory) -> None:
    queue, key = await service_queue(bus, unique_name)
    got: list[Delivery] = []
    await bus.consume(queue, recording(got))
    sent = call(idTag="ABC", meterStart=12)
    await bus.publish(UPSTREAM, key, sent)
    await eventually(lambda: len(got) == 1)
    delivery = got[0]
    assert delivery.envelope == sent
    assert delivery.routing_key == key
    assert not delivery.redelivered
    message = delivery.message
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id
    assert message.timestamp is not None
    assert message.app_id == bus.name
    await eventually(lambda: bus.metrics.acked == 1)


async def test_publish_event_routes_by_action(bus: Bus, unique_name: NameFactory) -> None:
    queue = unique_name("events")
    await bus.declare_service_queue(queue, [(EVENTS, "transaction.*")])
    got: list[Delivery] = []
    await bus.consume(queue, recording(got))
    await bus.publish_event(event("connector.status_changed", {"status": "Available"}))
    await bus.publish_event(event("transaction.started", {"transactionId": 1}, "CP-1"))
    await eventually(lambda: len(got) == 1)
    assert got[0].routing_key == "transaction.started"
    assert got[0].envelope.payload == {"transactionId": 1}


async def test_events_published_together_leave_as_one_message_per_run_of_an_action(
    bus: Bus, unique_name: NameFactory
) -> None:
    """A batch's events (published together, as the Dispatcher does after its commit) go as
    one broker message per run of consecutive events of one action, in their order; an event
    published alone is a plain envelope message."""
    queue = unique_name("events")
    await bus.declare_service_queue(queue, [(EVENTS, "chargepoint.*")])
    got: list[Delivery] = []
    await bus.consume(queue, recording(got))
    actions = ["connected", "connected", "connected", "booted", "connected"]
    events = [
        event(f"chargepoint.{a}", {"n": n}, f"CP-{n}") for n, a in enumerate(actions, start=1)
    ]
    await asyncio.gather(*(bus.publish_event(e) for e in events))
    await bus.publish_event(event("chargepoint.booted", {"n": 6}, "CP-6"))
    await eventually(lambda: len(got) == 6)
    assert [d.envelope.payload["n"] for d in got] == [1, 2, 3, 4, 5, 6]
    assert [d.routing_key for d in got] == [f"chargepoint.{a}" for a in actions] + [
        "chargepoint.booted"
    ]
    messages = [d.message for d in got]
    assert messages[0] is messages[1] is messages[2]  # the first run: one message
    assert len({id(m) for m in messages}) == 4
    assert got[0].batch is not None
    assert got[3].batch is None and got[4].batch is None and got[5].batch is None
    assert bus.metrics.published == 6
    await eventually(lambda: bus.metrics.acked == 6)  # counted per envelope


async def test_rpc_reply(bus: Bus, bus_factory: BusFactory, unique_name: NameFactory) -> None:
    queue, key = await service_queue(bus, unique_name)
    service = await bus_factory()
    await service.consume(queue, recording([], lambda d: d.envelope.result({"status": "Ok"})))
    reply = await bus.rpc(UPSTREAM, key, call("Authorize", idTag="T"), timeout=PATIENCE)
    assert reply.kind is Kind.RESULT
    assert reply.payload == {"status": "Ok"}
    assert reply.correlation_id == "c-1"
    assert bus._pending == {}


async def test_rpc_unroutable(bus: Bus, unique_name: NameFactory) -> None:
    with pytest.raises(Unroutable):
        await bus.rpc(DOWNSTREAM, unique_name("nobody"), call(), timeout=PATIENCE)
    assert bus._pending == {}


async def test_rpc_timeout_then_late_reply_is_dropped(
    bus: Bus, bus_factory: BusFactory, unique_name: NameFactory
) -> None:
    queue, key = await service_queue(bus, unique_name)
    service = await bus_factory()
    timed_out = asyncio.Event()

    async def slow(deliveries: list[Delivery]) -> Sequence[Outcome]:
        await timed_out.wait()
        return [d.envelope.result({"late": True}) for d in deliveries]

    await service.consume(queue, slow)
    # The service holds the request until told: the caller's own timeout is what ends the call.
    with pytest.raises(RpcTimeout):
        await bus.rpc(UPSTREAM, key, call(), timeout=0.3)
    assert not timed_out.is_set()
    assert bus._pending == {}
    assert bus.metrics.rpc_timeouts == 1
    timed_out.set()
    await eventually(lambda: bus.metrics.late_replies == 1)
    # The bus still works after the late reply.
    fast = await bus_factory()
    queue2, key2 = await service_queue(bus, unique_name)
    await fast.consume(queue2, recording([], lambda d: d.envelope.result({"ok": 1})))
    assert (await bus.rpc(UPSTREAM, key2, call(), timeout=PATIENCE)).payload == {"ok": 1}


async def test_rpc_request_expires_when_nobody_consumes(
    amqp_url: str, bus: Bus, unique_name: NameFactory
) -> None:
    watch = await dead_letter_watch(bus, unique_name)
    queue, key = await service_queue(bus, unique_name)
    request = call()
    with pytest.raises(RpcTimeout):
        await bus.rpc(UPSTREAM, key, request, timeout=0.2)
    # The request expired with the caller's timeout: the broker dead-letters it as expired
    # (whenever it gets to it), so no consumer can get it any more.
    [body] = await get_dead_letters(watch, queue, 1, reason="expired")
    assert Envelope.from_bytes(body) == request
    assert await ready_count(amqp_url, queue) == 0


async def test_mandatory_publish_without_route_raises_unroutable(
    bus: Bus, unique_name: NameFactory
) -> None:
    with pytest.raises(Unroutable):
        await bus.publish(DOWNSTREAM, unique_name("nobody"), call(), mandatory=True)
    # Not mandatory: silently dropped by the broker, confirmed.
    await bus.publish(DOWNSTREAM, unique_name("nobody"), call())
    assert bus.metrics.unroutable == 1


async def test_killed_consumer_message_is_redelivered_to_another(
    bus: Bus, bus_factory: BusFactory, unique_name: NameFactory
) -> None:
    queue, key = await service_queue(bus, unique_name)
    first = await bus_factory()
    entered, release = asyncio.Event(), asyncio.Event()

    async def blocking(deliveries: list[Delivery]) -> Sequence[Outcome]:
        entered.set()
        await release.wait()
        return [None] * len(deliveries)

    await first.consume(queue, blocking)
    await bus.publish(UPSTREAM, key, call(n=1))
    await asyncio.wait_for(entered.wait(), PATIENCE)
    await first.connection.close()  # the process dies: no ack was sent

    second = await bus_factory()
    got: list[Delivery] = []
    await second.consume(queue, recording(got))
    await eventually(lambda: len(got) == 1)
    assert got[0].redelivered
    assert got[0].envelope.payload == {"n": 1}
    assert second.metrics.redelivered == 1
    release.set()  # the dead consumer's ack fails quietly
    await eventually(lambda: second.metrics.acked == 1)


async def test_failing_handler_dead_letters_after_delivery_limit(
    bus: Bus, unique_name: NameFactory
) -> None:
    watch = await dead_letter_watch(bus, unique_name)
    queue, key = await service_queue(bus, unique_name, limit=2)
    attempts: list[Delivery] = []

    async def failing(deliveries: list[Delivery]) -> Sequence[Outcome]:
        attempts.extend(deliveries)
        raise RuntimeError("database is down")

    await bus.consume(queue, failing)
    await bus.publish(UPSTREAM, key, call(n="poison"))
    [dead] = await get_dead_messages(watch, queue, 1)
    assert Envelope.from_bytes(dead.body).payload == {"n": "poison"}
    await asyncio.sleep(0.3)
    assert len(attempts) == 3  # first delivery + 2 redeliveries, then dead-lettered
    assert [d.redelivered for d in attempts] == [False, True, True]
    # The last attempt (x-delivery-count = limit) is dead-lettered by the consumer, saying why.
    assert [d.message.headers.get("x-delivery-count") for d in attempts] == [None, 1, 2]
    assert dead.headers[DEATH_REASON] == POISON
    assert "RuntimeError('database is down')" in str(dead.headers[DEATH_DETAIL])
    assert "x-death" not in dead.headers


async def test_broker_dead_letters_at_the_limit_when_the_consumer_does_not_know_it(
    bus: Bus, bus_factory: BusFactory, unique_name: NameFactory
) -> None:
    """A queue this Bus did not declare (its limit unknown here): the broker dead-letters the
    message itself after the limit, with x-death reason `delivery_limit` (docs/internals.md)."""
    watch = await dead_letter_watch(bus, unique_name)
    queue, key = await service_queue(bus, unique_name, limit=1)
    other = await bus_factory()

    async def failing(deliveries: list[Delivery]) -> Sequence[Outcome]:
        raise RuntimeError("always")

    await other.consume(queue, failing)
    await bus.publish(UPSTREAM, key, call(n=1))
    [dead] = await get_dead_messages(watch, queue, 1)
    assert DEATH_REASON not in dead.headers
    deaths = dead.headers["x-death"]
    assert isinstance(deaths, list) and len(deaths) == 1 and isinstance(deaths[0], dict)
    assert deaths[0]["reason"] == "delivery_limit"


async def test_reject_dead_letters_at_once(bus: Bus, unique_name: NameFactory) -> None:
    watch = await dead_letter_watch(bus, unique_name)
    queue, key = await service_queue(bus, unique_name)
    attempts: list[Delivery] = []

    async def rejecting(deliveries: list[Delivery]) -> Sequence[Outcome]:
        attempts.extend(deliveries)
        if any(d.envelope.payload["n"] == 1 for d in deliveries):
            raise Reject("malformed")  # in a batch: retried alone, then dead-lettered
        return [Rejected("odd") if d.envelope.payload["n"] == 3 else None for d in deliveries]

    await bus.consume(queue, rejecting)
    for n in range(1, 5):
        await bus.publish(UPSTREAM, key, call(n=n))
    dead = await get_dead_messages(watch, queue, 2)
    by_n = {Envelope.from_bytes(m.body).payload["n"]: m for m in dead}
    assert sorted(by_n) == [1, 3]
    await eventually(lambda: bus.metrics.acked == 2)
    assert sum(d.envelope.payload["n"] == 1 for d in attempts) <= 2  # no redelivery loop
    for n, detail in ((1, "malformed"), (3, "odd")):
        headers = by_n[n].headers
        assert headers[DEATH_REASON] == HANDLER_REFUSED
        assert headers[DEATH_DETAIL] == detail
        assert headers[ORIGINAL_QUEUE] == queue
        assert headers[ORIGINAL_ROUTING_KEY] == key
        assert by_n[n].routing_key == key


async def test_dead_letter_keeps_body_and_properties(bus: Bus, unique_name: NameFactory) -> None:
    """Published, not rejected: body and properties are the original's, plus the headers;
    the expiration moves to a header (it must not expire in the dead-letter queue)."""
    watch = await dead_letter_watch(bus, unique_name)
    queue, key = await service_queue(bus, unique_name)

    async def refusing(deliveries: list[Delivery]) -> Sequence[Outcome]:
        return [Rejected("SQLSTATE 22P05: NUL", DATA_ERROR) for _ in deliveries]

    await bus.consume(queue, refusing)
    exchange = await bus.channel.get_exchange(UPSTREAM)
    sent = call(n=7)
    await exchange.publish(
        aio_pika.Message(
            sent.to_bytes(),
            content_type="application/json",
            message_id="m-7",
            correlation_id="corr-7",
            app_id="gw-test",
            headers={"x-custom": "kept"},
            expiration=60,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        key,
    )
    [dead] = await get_dead_messages(watch, queue, 1)
    assert dead.body == sent.to_bytes()
    assert (dead.content_type, dead.message_id, dead.correlation_id, dead.app_id) == (
        "application/json",
        "m-7",
        "corr-7",
        "gw-test",
    )
    assert dead.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert dead.expiration is None
    assert dead.headers["x-csms-original-expiration"] == "60000"
    assert dead.headers["x-custom"] == "kept"
    assert dead.headers[DEATH_REASON] == DATA_ERROR
    assert dead.headers[DEATH_DETAIL] == "SQLSTATE 22P05: NUL"
    assert bus.metrics.dead_lettered == 1


async def test_invalid_body_is_dead_lettered(bus: Bus, unique_name: NameFactory) -> None:
    watch = await dead_letter_watch(bus, unique_name)
    queue, key = await service_queue(bus, unique_name)
    got: list[Delivery] = []
    await bus.consume(queue, recording(got))
    exchange = await bus.channel.get_exchange(UPSTREAM)
    await exchange.publish(aio_pika.Message(b"{not an envelope"), key)
    [dead] = await get_dead_messages(watch, queue, 1)
    assert dead.body == b"{not an envelope"
    assert dead.headers[DEATH_REASON] == INVALID_ENVELOPE
    assert got == []
    assert bus.metrics.dead_lettered == 1


async def test_batch_consumption(
    amqp_url: str, bus_factory: BusFactory, unique_name: NameFactory
) -> None:
    bus = await bus_factory(delivery_limit=3)
    queue, key = await service_queue(bus, unique_name)
    batches: list[int] = []
    seen: set[int] = set()

    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        batches.append(len(deliveries))
        seen.update(d.envelope.payload["n"] for d in deliveries)
        await asyncio.sleep(0.005)  # one database transaction
        return [None] * len(deliveries)

    await bus.consume(queue, handler, max_batch=100, max_wait=0.01)
    await asyncio.gather(*(bus.publish(UPSTREAM, key, call(n=n)) for n in range(500)))
    await eventually(lambda: bus.metrics.acked == 500)
    assert seen == set(range(500))
    assert len(batches) < 500
    assert max(batches) <= 100
    await bus.close()
    assert await ready_count(amqp_url, queue) == 0


async def test_poison_message_in_batch_does_not_block_the_others(
    amqp_url: str, bus_factory: BusFactory, unique_name: NameFactory
) -> None:
    bus = await bus_factory(delivery_limit=1)
    watch = await dead_letter_watch(bus, unique_name)
    queue, key = await service_queue(bus, unique_name, limit=1)
    handled: set[int] = set()

    async def handler(deliveries: list[Delivery]) -> Sequence[Outcome]:
        if any(d.envelope.payload.get("poison") for d in deliveries):
            raise ValueError("cannot handle this one")
        handled.update(d.envelope.payload["n"] for d in deliveries)
        return [None] * len(deliveries)

    await bus.consume(queue, handler, max_batch=50, max_wait=0.05)
    publishes = [bus.publish(UPSTREAM, key, call(n=n)) for n in range(40)]
    publishes.insert(20, bus.publish(UPSTREAM, key, call(n=-1, poison=True)))
    await asyncio.gather(*publishes)
    [body] = await get_dead_letters(watch, queue, 1)
    assert Envelope.from_bytes(body).payload["poison"] is True
    await eventually(lambda: bus.metrics.acked == 40)
    assert handled == set(range(40))
    await bus.close()
    assert await ready_count(amqp_url, queue) == 0


async def test_close_lets_the_in_flight_batch_finish(
    amqp_url: str, bus_factory: BusFactory, unique_name: NameFactory
) -> None:
    bus = await bus_factory(delivery_limit=3)
    queue, key = await service_queue(bus, unique_name)
    entered = asyncio.Event()
    done: list[int] = []

    async def slow(deliveries: list[Delivery]) -> Sequence[Outcome]:
        entered.set()
        await asyncio.sleep(0.3)
        done.extend(d.envelope.payload["n"] for d in deliveries)
        return [None] * len(deliveries)

    await bus.consume(queue, slow, max_batch=1)
    for n in range(3):
        await bus.publish(UPSTREAM, key, call(n=n))
    await asyncio.wait_for(entered.wait(), PATIENCE)
    await bus.close(timeout=PATIENCE)
    assert done == [0, 1, 2]  # the batch in flight and those already prefetched
    assert bus.metrics.acked == 3
    assert await ready_count(amqp_url, queue) == 0


async def test_declaring_a_queue_again_with_other_arguments_keeps_it(
    bus: Bus, unique_name: NameFactory
) -> None:
    queue, key = await service_queue(bus, unique_name, limit=2)
    await bus.declare_service_queue(queue, [(UPSTREAM, key)], delivery_limit=7)
    got: list[Delivery] = []
    await bus.consume(queue, recording(got))
    await bus.publish(UPSTREAM, key, call(), mandatory=True)
    await eventually(lambda: len(got) == 1)


async def test_gateway_queue_binds_charge_points(bus: Bus, unique_name: NameFactory) -> None:
    node = unique_name("node").rsplit(".", 1)[1]
    queue = await bus.declare_gateway_queue(node)
    got: list[Delivery] = []
    await bus.consume(queue, recording(got, lambda d: d.envelope.result({"status": "Accepted"})))
    with pytest.raises(Unroutable):
        await bus.rpc(DOWNSTREAM, f"CP-{node}", call("Reset"), timeout=PATIENCE)
    await bus.bind(queue, DOWNSTREAM, f"CP-{node}")
    reply = await bus.rpc(DOWNSTREAM, f"CP-{node}", call("Reset"), timeout=PATIENCE)
    assert reply.payload == {"status": "Accepted"}
    await bus.unbind(queue, DOWNSTREAM, f"CP-{node}")
    with pytest.raises(Unroutable):
        await bus.rpc(DOWNSTREAM, f"CP-{node}", call("Reset"), timeout=PATIENCE)


async def test_reconnect_restores_reply_queue_and_consumers(
    bus: Bus, bus_factory: BusFactory, unique_name: NameFactory
) -> None:
    queue, key = await service_queue(bus, unique_name)
    service = await bus_factory(reconnect_interval=0.2)
    await service.consume(queue, recording([], lambda d: d.envelope.result({"ok": 1})))
    client = await bus_factory(reconnect_interval=0.2)
    assert (await client.rpc(UPSTREAM, key, call(), timeout=PATIENCE)).payload == {"ok": 1}

    await asyncio.to_thread(kill_connection, client.name)
    await asyncio.to_thread(kill_connection, service.name)
    await eventually(lambda: client.metrics.reconnects == 1 and service.metrics.reconnects == 1)
    assert client.is_connected and service.is_connected

    reply_queue = client.reply_queue
    reply = await client.rpc(UPSTREAM, key, call(), timeout=PATIENCE)
    assert client.reply_queue == reply_queue
    assert reply.payload == {"ok": 1}
