"""The services as real processes (`csms <service>`), for end-to-end tests and benchmarks."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 unless configured otherwise)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port nobody listens on right now, for a service process to bind in a moment.

    Chosen below the kernel's ephemeral range: a port from that range (what binding port 0
    gives) can be taken as the local port of any outgoing connection on the machine between
    this check and the service binding it, and the service would then fail to start.
    """
    low = _ephemeral_low()
    for _ in range(100):
        port = random.randrange(min(10000, low - 1000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # everything tried is taken: fall back to any free port
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """Starts, stops and kills the services of one test run."""

    env: dict[str, str]
    log_dir: Path
    gateway_port: int
    health_ports: dict[str, int]
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}/ocpp"

    @property
    def wss_url(self) -> str:
        """The gateway's wss:// base URL (with `CSMS_GATEWAY_TLS_*` in the environment)."""
        return f"wss://127.0.0.1:{self.env['CSMS_GATEWAY_TLS_PORT']}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['CSMS_API_PORT']}"

    def ready_url(self, name: str) -> str:
        if name in self.extra_ports:
            return f"http://127.0.0.1:{self.extra_ports[name]}/readyz"
        if name == "api":
            return f"{self.api_url}/readyz"
        port = self.gateway_port if name == "gateway" else self.health_ports[name]
        return f"http://127.0.0.1:{port}/readyz"

    async def start_gateway(self, name: str) -> int:
        """Start another gateway process (its own node id and port); returns its port."""
        port = free_port()
        self.extra_ports[name] = port
        env = {"CSMS_GATEWAY_PORT": str(port), "CSMS_GATEWAY_NODE_ID": name}
        if self.env.get("CSMS_GATEWAY_TLS_CERT"):  # its own wss:// port too
            env["CSMS_GATEWAY_TLS_PORT"] = str(free_port())
        await self.start(name, service="gateway", env=env)
        return port

    async def start(
        self, name: str, *, service: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        """Start `csms <service or name>` and wait until its /readyz answers 200."""
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "shared.cli",
                service or name,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        await self._wait_ready(name)

    async def _wait_ready(self, name: str, timeout: float = 120.0) -> None:
        url = self.ready_url(name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            proc = self.procs[name]
            if proc.returncode is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir}")
            try:
                status = await asyncio.to_thread(_http_status, url)
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{name} not ready after {timeout}s; see {self.log_dir}")

    async def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        """Signal a service and wait for it to exit; returns its exit code."""
        proc = self.procs[name]
        if proc.returncode is None:
            proc.send_signal(sig)
        code = await asyncio.wait_for(proc.wait(), 60)
        del self.procs[name]
        return code

    async def kill(self, name: str) -> int:
        """SIGKILL: the process gets no chance to finish anything."""
        return await self.stop(name, signal.SIGKILL)

    async def stop_all(self) -> None:
        for name in list(self.procs):
            try:
                await self.stop(name)
            except TimeoutError:
                await self.kill(name)


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def stack_env(
    db_url: str, amqp_url: str, gateway_port: int, health: dict[str, int]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    env.update(
        CSMS_ENV="test",
        CSMS_DATABASE_URL=db_url,
        CSMS_AMQP_URL=amqp_url,
        CSMS_GATEWAY_HOST="127.0.0.1",
        CSMS_GATEWAY_PORT=str(gateway_port),
        CSMS_API_HOST="127.0.0.1",
        CSMS_API_PORT=str(free_port()),
        CSMS_REGISTRY_HEALTH_PORT=str(health["registry"]),
        CSMS_TRANSACTIONS_HEALTH_PORT=str(health["transactions"]),
        CSMS_CHARGING_HEALTH_PORT=str(health["charging"]),
        CSMS_WEBHOOKS_HEALTH_PORT=str(health.get("webhooks", 0)),
        CSMS_LOG_LEVEL="INFO",
        CSMS_LOG_FORMAT="json",
        # Generous: on a busy machine a service may take seconds to answer; a slow answer must
        # not turn into an InternalError (e2e tests assert outcomes, the bench reports
        # latencies). A test about a timeout passes its own short one (a command's `timeout`).
        CSMS_UPSTREAM_CALL_TIMEOUT="25",
        CSMS_COMMAND_TIMEOUT="25",
        CSMS_UNKNOWN_CHARGEPOINTS="accept",
    )
    return env
