"""The auth-flood phase of `make bench`: a brute-force flood against one charge point's password.

`clients` clients hammer the gateway with wrong Basic passwords for one charge point id for
`seconds`, while a legitimate, provisioned charge point (another id, its own password, from the
same address) connects and boots again and again. Its PhaseResult holds:
- latencies: the legitimate station's connect+boot, one per round (its failures in errors by
  their code: `HTTP429`, `Timeout`, ...);
- errors `flood HTTP401` / `flood HTTP429` / ...: how the attempts were answered (401 wrong
  password, checked with argon2; 429 back-off, answered at once);
- CPU of every process (gateway and registry among them) over the whole flood; CPU ms/call is
  per attempt or legitimate round.
Without the back-off every wrong password costs an argon2 verification on the gateway (tens of
ms of CPU, 64 MiB); with it only the first CSMS_AUTH_FAILURES_BEFORE_BACKOFF do
(shared/backoff.py).
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from bench.chargepoint import CallFailed, SimChargePoint
from bench.report import PhaseResult
from shared.db.session import create_engine
from shared.passwords import hash_password

VICTIM = "FLOOD-VICTIM"
VICTIM_PASSWORD = "victim-password-0123456"
LEGIT = "FLOOD-LEGIT"
LEGIT_PASSWORD = "legit-password-0123456"
# A connection attempt waits this long at most (the old tool's websockets default).
HANDSHAKE_TIMEOUT = 10.0


async def provision(db_url: str) -> None:
    """The victim and the legitimate station, each with a password (profile 1)."""
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        for cp_id, password in ((VICTIM, VICTIM_PASSWORD), (LEGIT, LEGIT_PASSWORD)):
            await conn.execute(
                text(
                    "insert into chargepoint (chargepoint_id, registration_status, password_hash,"
                    " security_profile) values (:cp, 'Accepted', :h, 1)"
                    " on conflict (chargepoint_id)"
                    " do update set password_hash = excluded.password_hash"
                ),
                {"cp": cp_id, "h": await asyncio.to_thread(hash_password, password)},
            )
    await engine.dispose()


async def _attacker(url: str, stop: float, result: PhaseResult, n: int) -> None:
    i = 0
    while time.perf_counter() < stop:
        i += 1
        cp = SimChargePoint(
            url, VICTIM, timeout=HANDSHAKE_TIMEOUT, password=f"guess-{n}-{i:08d}-xxxxxx"
        )
        try:
            await cp.connect()
        except CallFailed as exc:
            result.errors[f"flood {exc.code}"] += 1
            continue
        result.errors["flood HTTP101"] += 1  # a guess that got in (never, with these guesses)
        await cp.close()


async def _legit(url: str, stop: float, result: PhaseResult) -> None:
    while time.perf_counter() < stop:
        cp = SimChargePoint(url, LEGIT, timeout=HANDSHAKE_TIMEOUT, password=LEGIT_PASSWORD)
        start = time.perf_counter()
        try:
            await cp.connect()
            answer = await cp.call(
                "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "L"}
            )
        except CallFailed as exc:
            result.errors[exc.code] += 1
        else:
            if answer.get("status") == "Accepted":
                result.latencies.append(time.perf_counter() - start)
            else:
                result.errors[f"status {answer.get('status')}"] += 1
        finally:
            await cp.close()
        await asyncio.sleep(0.2)


async def auth_flood(url: str, clients: int, seconds: float, result: PhaseResult) -> None:
    """Flood for `seconds` with `clients` concurrent attackers; the legitimate station too.
    The victim and the legitimate station must be provisioned (`provision`)."""
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(
        *(_attacker(url, stop, result, n) for n in range(clients)),
        _legit(url, stop, result),
    )
    result.wall = time.perf_counter() - start
