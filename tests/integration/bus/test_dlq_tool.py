"""`csms dlq` against the real broker: dead letters of both kinds listed by why they died,
filtered, shown, replayed to where they came from with the same envelope, purged."""

from __future__ import annotations

import argparse
import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import orjson
import pytest
from aio_pika.abc import FieldValue

from shared import dlq
from shared.bus import DEAD_LETTER, UPSTREAM, Bus
from shared.envelope import Envelope, Kind
from tests.fixtures.bus import NameFactory

pytestmark = pytest.mark.integration


def envelope(cp: str, action: str = "MeterValues") -> Envelope:
    return Envelope(
        kind=Kind.CALL,
        action=action,
        chargepoint_id=cp,
        ocpp_version="ocpp1.6",
        unique_id="u1",
        correlation_id=uuid.uuid4().hex,
        payload={"connectorId": 1, "meterValue": []},
    )


async def cli(amqp_url: str, *argv: str) -> tuple[int, str]:
    args: argparse.Namespace = dlq.build_parser().parse_args(list(argv))
    out = io.StringIO()
    status = await dlq.run(args, amqp_url, out=out)
    return status, out.getvalue()


async def rejected_by_a_consumer(
    bus: Bus, amqp_url: str, queue: str, key: str, env: Envelope
) -> None:
    """The broker dead-letters it (x-death, reason `rejected`), as the consumer's reject does."""
    await bus.declare_service_queue(queue, [(UPSTREAM, key)])
    await bus.publish(UPSTREAM, key, env, mandatory=True)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        amqp_queue = await channel.declare_queue(queue, passive=True)
        message = await amqp_queue.get(timeout=5)
        assert message is not None
        await message.reject(requeue=False)
    finally:
        await connection.close()


async def dead_lettered_by_the_csms(
    bus: Bus,
    queue: str,
    key: str,
    env: Envelope,
    reason: str,
    original_exchange: str | None = None,
) -> None:
    """What shared/bus republishes when it dead-letters a message itself."""
    channel = bus.channel
    exchange = await channel.get_exchange(DEAD_LETTER, ensure=False)
    headers: dict[str, FieldValue] = {
        dlq.REASON: reason,
        dlq.DETAIL: "NumericValueOutOfRange: value 1e30",
        dlq.ORIGINAL_QUEUE: queue,
        dlq.ORIGINAL_ROUTING_KEY: key,
    }
    if original_exchange is not None:
        headers[dlq.ORIGINAL_EXCHANGE] = original_exchange
    await exchange.publish(
        aio_pika.Message(
            env.to_bytes(),
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC),
            headers=headers,
        ),
        routing_key="",
    )


async def wait_listed(amqp_url: str, queue: str, count: int) -> list[dict[str, object]]:
    for _ in range(100):
        status, out = await cli(amqp_url, "list", "--queue", queue, "--json")
        assert status == 0
        rows = [orjson.loads(line) for line in out.splitlines()]
        if len(rows) == count:
            return rows
        await asyncio.sleep(0.05)
    pytest.fail(f"{queue}: not {count} dead letters: {rows}")


async def test_list_filter_show_replay_and_purge(
    bus: Bus, amqp_url: str, unique_name: NameFactory
) -> None:
    queue = unique_name("dlqtool")
    key = f"ocpp16.DlqTest{uuid.uuid4().hex[:8]}"
    broker_env, csms_env = envelope("CP-DLQ-A"), envelope("CP-DLQ-B", "StatusNotification")
    await rejected_by_a_consumer(bus, amqp_url, queue, key, broker_env)
    await dead_lettered_by_the_csms(bus, queue, key, csms_env, "data-error")

    rows = await wait_listed(amqp_url, queue, 2)
    by_cp = {row["chargepoint_id"]: row for row in rows}
    assert by_cp["CP-DLQ-A"]["reason"] == "rejected"
    assert by_cp["CP-DLQ-A"]["routing_key"] == key
    assert by_cp["CP-DLQ-A"]["correlation_id"] == broker_env.correlation_id
    assert by_cp["CP-DLQ-B"]["reason"] == "data-error"
    assert by_cp["CP-DLQ-B"]["detail"] == "NumericValueOutOfRange: value 1e30"
    assert by_cp["CP-DLQ-B"]["action"] == "StatusNotification"

    # Filters: reason, charge point, action, age. Reading left both in the queue.
    for argv, expected in (
        (("--reason", "rejected"), {"CP-DLQ-A"}),
        (("--chargepoint", "CP-DLQ-B"), {"CP-DLQ-B"}),
        (("--action", "MeterValues"), {"CP-DLQ-A"}),
        (("--newer-than", "1h"), {"CP-DLQ-A", "CP-DLQ-B"}),
        (("--older-than", "1h"), set()),
    ):
        _, out = await cli(amqp_url, "list", "--queue", queue, "--json", *argv)
        assert {orjson.loads(line)["chargepoint_id"] for line in out.splitlines()} == expected

    status, out = await cli(amqp_url, "show", "--queue", queue, str(by_cp["CP-DLQ-A"]["id"]))
    assert status == 0
    shown = orjson.loads(out)
    assert shown["exchange"] == UPSTREAM
    assert shown["body"]["correlation_id"] == broker_env.correlation_id
    assert shown["headers"]["x-death"][0]["reason"] == "rejected"

    # purge and replay refuse to act on everything unless told.
    status, out = await cli(amqp_url, "purge")
    assert status == 2 and "--all" in out

    # Replay the broker's dead letter: back on its queue, same envelope, gone from the DLQ.
    status, out = await cli(amqp_url, "replay", "--queue", queue, "--chargepoint", "CP-DLQ-A")
    assert status == 0, out
    assert f"to {UPSTREAM} {key}" in out
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        amqp_queue = await channel.declare_queue(queue, passive=True)
        replayed = await amqp_queue.get(timeout=5)
        assert replayed is not None
        assert replayed.routing_key == key
        again = Envelope.from_bytes(replayed.body)
        assert again.correlation_id == broker_env.correlation_id
        assert again.payload == broker_env.payload
        await replayed.ack()
    finally:
        await connection.close()
    rows = await wait_listed(amqp_url, queue, 1)
    assert rows[0]["chargepoint_id"] == "CP-DLQ-B"

    status, out = await cli(amqp_url, "purge", "--queue", queue, "--dry-run")
    assert "would purge" in out
    await wait_listed(amqp_url, queue, 1)
    status, out = await cli(amqp_url, "purge", "--queue", queue)
    assert status == 0 and "purged" in out
    await wait_listed(amqp_url, queue, 0)


async def test_expired_rpcs_are_not_replayed_unless_asked(
    bus: Bus, amqp_url: str, unique_name: NameFactory
) -> None:
    queue = unique_name("dlqexp")
    key = f"ocpp16.DlqExp{uuid.uuid4().hex[:8]}"
    # An exchange of its own with no binding: other suites sharing the vhost bind `ocpp16.#` on
    # ocpp.upstream, so "nothing is bound to the key" must not depend on what ran before.
    lonely = unique_name("dlqexp-x")
    await bus.channel.declare_exchange(lonely, aio_pika.ExchangeType.TOPIC, auto_delete=True)
    await dead_lettered_by_the_csms(
        bus, queue, key, envelope("CP-DLQ-E"), "expired", original_exchange=lonely
    )
    await wait_listed(amqp_url, queue, 1)
    status, out = await cli(amqp_url, "replay", "--queue", queue)
    assert status == 0 and "replayed" not in out.replace("0 replayed", "")
    await wait_listed(amqp_url, queue, 1)
    # Asked by name, but nothing is bound to the key any more: it stays dead, exit status 1.
    status, out = await cli(amqp_url, "replay", "--queue", queue, "--reason", "expired")
    assert status == 1 and "not replayed" in out
    await wait_listed(amqp_url, queue, 1)
    status, _ = await cli(amqp_url, "purge", "--queue", queue)
    await wait_listed(amqp_url, queue, 0)


def test_durations() -> None:
    assert dlq.duration("90s") == timedelta(seconds=90)
    assert dlq.duration("7d") == timedelta(days=7)
    with pytest.raises(argparse.ArgumentTypeError):
        dlq.duration("soon")
