"""The REFERENCE pipeline: the least a system must do for a persisted MeterValues.

websocket -> publish with a broker confirm -> CALLRESULT; a batch consumer -> one executemany
per batch -> ack. No validation, no message log, no routing, no ORM: the bench runs it in the
same invocation as the real stack, so "CPU per call x the reference" stays comparable on a
machine whose load changes from one run to the next.

    python -m bench.reference server PORT AMQP_URL
    python -m bench.reference consumer AMQP_URL POSTGRES_DSN
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aio_pika
import asyncpg  # type: ignore[import-untyped]
import orjson
from websockets.asyncio.server import ServerConnection, serve

QUEUE = "bench.reference"
TABLE = "bench_reference_value"
BATCH = 200
CREATE_TABLE = (
    f"create table if not exists {TABLE} "
    "(chargepoint_id text not null, unique_id text not null, ts text, value text)"
)
INSERT = f"insert into {TABLE} (chargepoint_id, unique_id, ts, value) values ($1, $2, $3, $4)"


async def run_server(port: int, amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(QUEUE, durable=True)
    exchange = channel.default_exchange

    async def handle(ws: ServerConnection) -> None:
        cp_id = (ws.request.path if ws.request else "").rsplit("/", 1)[-1]
        async for raw in ws:
            frame = orjson.loads(raw)
            body = orjson.dumps({"cp": cp_id, "uid": frame[1], "payload": frame[3]})
            await exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=QUEUE,
            )  # returns once the broker confirmed
            await ws.send(orjson.dumps([3, frame[1], {}]).decode())

    async with serve(handle, "127.0.0.1", port, subprotocols=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


def rows_of(body: bytes) -> list[tuple[str, str, str, str]]:
    """The rows of one published MeterValues: one per sampled value."""
    msg: dict[str, Any] = orjson.loads(body)
    rows = []
    for mv in msg["payload"].get("meterValue", []):
        for sv in mv.get("sampledValue", []):
            rows.append((msg["cp"], msg["uid"], mv.get("timestamp"), sv.get("value")))
    return rows


async def run_consumer(amqp_url: str, dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    async with pool.acquire() as conn:
        await conn.execute(CREATE_TABLE)
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=BATCH * 2)
    queue = await channel.declare_queue(QUEUE, durable=True)
    inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
    await queue.consume(inbox.put)
    print("ready", flush=True)
    while True:
        batch = [await inbox.get()]
        while not inbox.empty() and len(batch) < BATCH:
            batch.append(inbox.get_nowait())
        rows = [row for m in batch for row in rows_of(m.body)]
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(INSERT, rows)
        await batch[-1].ack(multiple=True)


def main(argv: list[str]) -> None:
    import uvloop

    if argv[0] == "server":
        uvloop.run(run_server(int(argv[1]), argv[2]))
    elif argv[0] == "consumer":
        uvloop.run(run_consumer(argv[1], argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
