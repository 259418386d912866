"""The registry's handler path alone: batches of Heartbeat and BootNotification envelopes
through its real Dispatcher on the bench database, no broker, no gateway.

    python -m bench.handlers [--batches 50] [--batch 20] [--chargepoints 20]

Then batches of `gateway.connected` and of `gateway.disconnected`; then the transactions
service's path: a StartTransaction per charge point and batches of 1.6 MeterValues.
Prints CPU milliseconds per message of this process (what the registry would spend:
parsing, handlers, statement building, SQLAlchemy, asyncpg) and of the bench database's
Postgres backends. On a shared machine this is the steadier figure for a change to a
handler: no broker or other process shares it (`make bench` measures the whole system).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.accounting import CpuMeter, cpu_delta, postgres_backends
from bench.chargepoint import meter_values_payload
from services.registry.routes import ROUTER
from services.transactions.routes import ROUTER as TX_ROUTER
from shared.bus.topology import GATEWAY_CONNECTED, GATEWAY_DISCONNECTED, upstream_key
from shared.db.session import create_engine, create_sessionmaker
from shared.dispatch import Dispatcher
from shared.envelope import Envelope, Kind
from shared.messagelog import log_call_and_answer
from shared.settings import Settings, UnknownChargePointPolicy

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/csms_bench"
)


@dataclass(frozen=True)
class Delivery:
    envelope: Envelope
    routing_key: str


class NoEvents:
    async def publish_event(self, envelope: Envelope) -> None:
        return None


def connection_events(cp: str) -> list[Delivery]:
    """`gateway.connected` then `gateway.disconnected` of one new socket."""
    opened = datetime.now(UTC).isoformat()
    payload = {
        "remote_ip": "127.0.0.1",
        "remote_port": 40000,
        "node_id": "bench",
        "subprotocol": "ocpp1.6",
        "connection_id": uuid.uuid4().hex,
        "connected_at": opened,
    }
    return [
        Delivery(
            Envelope(
                kind=Kind.EVENT,
                action=action,
                chargepoint_id=cp,
                ocpp_version="ocpp1.6",
                node_id="bench",
                payload=payload,
            ),
            action,
        )
        for action in (GATEWAY_CONNECTED, GATEWAY_DISCONNECTED)
    ]


def call(action: str, cp: str, payload: dict[str, object]) -> Delivery:
    env = Envelope(
        kind=Kind.CALL,
        action=action,
        payload=payload,
        chargepoint_id=cp,
        ocpp_version="ocpp1.6",
        unique_id=uuid.uuid4().hex[:8],
        correlation_id=uuid.uuid4().hex,
    )
    return Delivery(env, upstream_key("ocpp1.6", action))


async def measure(
    dispatcher: Dispatcher, meter: CpuMeter, name: str, batches: list[list[Delivery]]
) -> None:
    messages = sum(len(b) for b in batches)
    before = meter.snapshot()
    cpu0 = time.process_time()
    for batch in batches:
        await dispatcher(batch)
    own = time.process_time() - cpu0
    pg = cpu_delta(before, meter.snapshot()).get("postgres", 0.0)
    print(
        f"{name:<18}{messages:>7} msgs  handler path {own * 1000 / messages:6.3f} ms/msg"
        f"  postgres {pg * 1000 / messages:6.3f} ms/msg",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(DB_URL)
    dispatcher = Dispatcher(
        router=ROUTER,
        sessionmaker=create_sessionmaker(engine),
        settings=Settings(unknown_chargepoints=UnknownChargePointPolicy.ACCEPT),
        publisher=NoEvents(),
        log_writer=log_call_and_answer,
        service="registry",
    )
    meter = CpuMeter()
    database = urlparse(DB_URL.replace("+asyncpg", "")).path.lstrip("/")
    meter.add("postgres", lambda: postgres_backends(database))
    cps = [f"HANDLERS-{i}" for i in range(args.chargepoints)]
    boot: dict[str, object] = {"chargePointVendor": "Bench", "chargePointModel": "Handlers"}
    warm = [[call("BootNotification", cp, boot) for cp in cps]]
    await measure(dispatcher, meter, "warm-up boots", warm)

    def batches(action: str, payload: dict[str, object]) -> list[list[Delivery]]:
        out = []
        for _ in range(args.batches):
            out.append([call(action, cps[i % len(cps)], payload) for i in range(args.batch)])
        return out

    await measure(dispatcher, meter, "Heartbeat", batches("Heartbeat", {}))
    await measure(dispatcher, meter, "BootNotification", batches("BootNotification", boot))
    # A batch of connects, then one of their disconnects (as a reconnect storm would).
    pairs = [[connection_events(cp) for cp in cps[: args.batch]] for _ in range(args.batches)]
    connects = [[pair[0] for pair in group] for group in pairs]
    disconnects = [[pair[1] for pair in group] for group in pairs]
    await measure(
        dispatcher,
        meter,
        "connect+disconnect",
        [batch for both in zip(connects, disconnects, strict=True) for batch in both],
    )
    await transactions_path(engine, meter, cps, args)
    await engine.dispose()


async def transactions_path(
    engine: AsyncEngine, meter: CpuMeter, cps: list[str], args: argparse.Namespace
) -> None:
    """The transactions service's path: one StartTransaction per charge point, then batches
    of 1.6 MeterValues on those transactions (two sampled values each)."""
    dispatcher = Dispatcher(
        router=TX_ROUTER,
        sessionmaker=create_sessionmaker(engine),
        settings=Settings(unknown_chargepoints=UnknownChargePointPolicy.ACCEPT),
        publisher=NoEvents(),
        log_writer=log_call_and_answer,
        service="transactions",
    )
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "insert into id_tag (id_token, revoked) values (:t, false) on conflict do nothing"
            ),
            [{"t": f"HANDLERS-{i}"} for i in range(len(cps))],
        )
    now = datetime.now(UTC).isoformat()
    starts = [
        call(
            "StartTransaction",
            cp,
            {"connectorId": 1, "idTag": f"HANDLERS-{i}", "meterStart": 0, "timestamp": now},
        )
        for i, cp in enumerate(cps)
    ]
    replies = await dispatcher(starts)
    txs = [
        int(r.payload["transactionId"])
        for r in replies
        if isinstance(r, Envelope) and r.kind is Kind.RESULT
    ]
    batches = []
    for k in range(args.batches):
        batch = []
        for i in range(args.batch):
            tx = txs[i % len(txs)]
            batch.append(call("MeterValues", cps[i % len(cps)], meter_values_payload(tx, k + 1)))
        batches.append(batch)
    await measure(dispatcher, meter, "MeterValues", batches)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch", type=int, default=20, help="messages per batch")
    parser.add_argument("--chargepoints", type=int, default=20)
    import uvloop

    uvloop.run(main(parser.parse_args()))
