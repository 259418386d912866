"""`csms gateway`: the OCPP websocket gateway process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import subprocess
import sys
import time

from services.gateway.auth import RegistryAuthenticator
from services.gateway.downstream import Downstream
from services.gateway.server import GatewayServer
from shared import metrics
from shared.backoff import Backoff
from shared.bus.bus import Bus
from shared.logging import configure_logging
from shared.queuewatch import ALL_QUEUES, GATEWAY_RPC_QUEUES, QueueWatch
from shared.settings import Settings, get_settings

log = logging.getLogger("services.gateway")

_RETRY_INITIAL = 0.5
_RETRY_MAX = 10.0


def main() -> None:
    """Run the gateway until SIGTERM / SIGINT (CSMS_GATEWAY_PROCESSES of them, on one port)."""
    settings = get_settings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    if settings.gateway_processes > 1:
        raise SystemExit(run_processes(settings))
    import uvloop

    raise SystemExit(uvloop.run(serve(settings)))


def process_env(settings: Settings, n: int) -> dict[str, str]:
    """The environment of gateway process `n` (1-based) of `CSMS_GATEWAY_PROCESSES`."""
    return {
        **os.environ,
        "CSMS_GATEWAY_PROCESSES": "1",
        "CSMS_GATEWAY_REUSE_PORT": "true",
        "CSMS_GATEWAY_NODE_ID": f"{settings.gateway_node_id}-{n}",
    }


def run_processes(settings: Settings) -> int:
    """Start CSMS_GATEWAY_PROCESSES gateways listening on the same ports (SO_REUSEPORT).

    The kernel spreads new connections over them; each is a node of its own (node id
    `<CSMS_GATEWAY_NODE_ID>-<n>`, its own downstream queue and bindings), so a command reaches
    whichever process holds the charge point's socket, as across machines. SIGTERM / SIGINT
    are passed on; when one process ends the others are stopped and its status returned (the
    supervisor above, `csms run` or the orchestrator, restarts the gateway as a whole).
    """
    count = settings.gateway_processes
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "gateway"], env=process_env(settings, n)
        )
        for n in range(1, count + 1)
    ]
    log.info("started %d gateway processes on one port: %s", count, [c.pid for c in children])

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    status: int | None = None
    while status is None:
        for child in children:
            code = child.poll()
            if code is not None:
                status = code
                break
        else:
            time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return status


async def _connect(bus: Bus, stopping: asyncio.Event) -> bool:
    delay = _RETRY_INITIAL
    while not stopping.is_set():
        try:
            await bus.connect()
            return True
        except Exception as exc:  # noqa: BLE001 - retried; the reason is logged
            log.warning("broker unavailable, retrying in %.1fs: %s", delay, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=delay)
        delay = min(delay * 2, _RETRY_MAX)
    return False


async def serve(settings: Settings, stopping: asyncio.Event | None = None) -> int:
    """Connect the bus, listen, and shut down gracefully when `stopping` is set."""
    loop = asyncio.get_running_loop()
    if stopping is None:
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    bus = Bus(settings.amqp_url, name="gateway", prefetch=settings.consumer_prefetch)
    metrics.register_bus(bus)
    downstream = Downstream(
        bus, node_id=settings.gateway_node_id, command_timeout=settings.command_timeout
    )
    started = False
    # Ready only while the registry and transactions RPC queues have consumers (queuewatch.py).
    watch = QueueWatch(bus, ALL_QUEUES, required=GATEWAY_RPC_QUEUES)

    def ready() -> bool:
        return started and bus.is_connected and watch.ready()

    metrics.READY.set_function(lambda: float(ready()))

    # Security profile 1: every upgrade is checked by the registry (profile 0 for charge
    # points without a password is the registry's decision, not a switch here).
    authenticator = RegistryAuthenticator(
        bus,
        node_id=settings.gateway_node_id,
        timeout=settings.upstream_call_timeout,
        backoff=Backoff(
            free_failures=settings.auth_failures_before_backoff,
            max_delay=settings.auth_backoff_max_seconds,
        ),
    )
    try:  # TLS files are read here: a missing or broken one stops the gateway at start
        server = GatewayServer(
            settings, bus=bus, downstream=downstream, ready=ready, authenticate=authenticator.admit
        )
    except (OSError, ssl.SSLError, ValueError) as exc:
        log.error(
            "cannot load the TLS files (CSMS_GATEWAY_TLS_CERT, CSMS_GATEWAY_TLS_KEY, "
            "CSMS_GATEWAY_TLS_CA): %s",
            exc,
        )
        return 1
    status = 0
    try:
        if await _connect(bus, stopping):
            await downstream.start()
            watch.start()
            await server.start()
            started = True
            log.info("gateway node %s started", settings.gateway_node_id)
            await stopping.wait()
        log.info("gateway stopping")
    except Exception:
        log.exception("gateway failed")
        status = 1
    finally:
        started = False
        await watch.stop()
        # Stop accepting, close every socket with 1001 "going away" (charge points reconnect
        # to another node), answer what is in flight, then close the bus.
        await server.close()
        await downstream.stop()
        await bus.close()
    return status
