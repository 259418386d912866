"""Phase 4 of `make bench`: a brute-force flood against one charge point's password.

`attackers` clients hammer the gateway with wrong Basic passwords for one charge point id for
`seconds`, while a legitimate, provisioned charge point (another id, its own password, from the
same address) connects and boots again and again. Printed: the attempts and how they were
answered (401 wrong password, 429 back-off), the gateway's and registry's CPU seconds during
the flood, and the legitimate station's connect+boot latency (p50 / p99 / max). Without the
back-off every wrong password costs an argon2 verification on the gateway (tens of ms of CPU,
64 MiB); with it only the first CSMS_AUTH_FAILURES_BEFORE_BACKOFF do (shared/backoff.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import websockets
from sqlalchemy import text
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from services.gateway.auth import basic_authorization
from shared.db.session import create_engine
from shared.passwords import hash_password

OCPP16 = [Subprotocol("ocpp1.6")]
VICTIM = "FLOOD-VICTIM"
LEGIT = "FLOOD-LEGIT"
LEGIT_PASSWORD = "legit-password-0123456"


@dataclass
class FloodResult:
    answers: dict[int, int] = field(default_factory=dict)
    legit: list[float] = field(default_factory=list)
    legit_failures: int = 0
    legit_errors: list[str] = field(default_factory=list)


async def provision(db_url: str) -> None:
    """The victim and the legitimate station, each with a password (profile 1)."""
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        for cp_id, password in ((VICTIM, "victim-password-0123456"), (LEGIT, LEGIT_PASSWORD)):
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


async def _attacker(url: str, stop: float, result: FloodResult, n: int) -> None:
    i = 0
    while time.perf_counter() < stop:
        i += 1
        headers = {"Authorization": basic_authorization(VICTIM, f"guess-{n}-{i:08d}-xxxxxx")}
        try:
            async with websockets.connect(
                f"{url}/{VICTIM}",
                subprotocols=OCPP16,
                additional_headers=headers,
            ):
                code = 101
        except InvalidStatus as exc:
            code = exc.response.status_code
        except OSError:
            code = 0
        result.answers[code] = result.answers.get(code, 0) + 1


async def _legit(url: str, stop: float, result: FloodResult) -> None:
    headers = {"Authorization": basic_authorization(LEGIT, LEGIT_PASSWORD)}
    boot = '[2,"b1","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"L"}]'
    while time.perf_counter() < stop:
        start = time.perf_counter()
        try:
            async with websockets.connect(
                f"{url}/{LEGIT}",
                subprotocols=OCPP16,
                additional_headers=headers,
            ) as ws:
                await ws.send(boot)
                await ws.recv()
            result.legit.append(time.perf_counter() - start)
        except (InvalidStatus, OSError) as exc:
            result.legit_failures += 1
            result.legit_errors.append(repr(exc)[:120])
        await asyncio.sleep(0.2)


async def run_auth_flood(ws_url: str, attackers: int, seconds: float) -> FloodResult:
    """Flood for `seconds` with `attackers` concurrent clients; the legitimate station too."""
    result = FloodResult()
    stop = time.perf_counter() + seconds
    await asyncio.gather(
        *(_attacker(ws_url, stop, result, n) for n in range(attackers)),
        _legit(ws_url, stop, result),
    )
    return result
