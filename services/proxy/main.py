"""`csms proxy`: a small TCP proxy in front of the gateway replicas of one Docker host.

`docker compose up --scale gateway=N` cannot publish one host port from N containers. The proxy
publishes it instead (charge points keep one URL, `ws://<host>:9000/<id>`) and spreads new
connections over whatever the backend name resolves to (Docker's DNS answers every replica of
a service), resolved anew for each connection so scaling up or down needs no restart.
Replicas whose `/readyz` does not answer 200 (e.g. no registry consuming, docs/deploy.md)
are skipped while another one is ready; if none is, every replica is tried, so the charge
point still gets the gateway's own answer (503 + Retry-After). Bytes are copied as they are:
websocket frames, `/healthz`, `/readyz` and `/metrics` of whichever replica answers.

Kubernetes does not need it: the `csms-gateway` Service is the load balancer there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

log = logging.getLogger("services.proxy")

Address = tuple[str, int]
Resolver = Callable[[], Awaitable[list[Address]]]
ReadyProbe = Callable[[Address], Awaitable[bool]]

CONNECT_TIMEOUT: Final = 5.0
READY_TTL: Final = 2.0
"""Seconds a backend's /readyz answer is reused (a reconnect storm costs one probe each)."""
PROBE_TIMEOUT: Final = 1.0
_CHUNK: Final = 64 * 1024


def dns_resolver(host: str, port: int) -> Resolver:
    """Every IPv4/IPv6 address `host` resolves to, in the resolver's order."""

    async def resolve() -> list[Address]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        seen: dict[Address, None] = {}
        for _family, _type, _proto, _name, sockaddr in infos:
            seen[(str(sockaddr[0]), int(sockaddr[1]))] = None
        return list(seen)

    return resolve


async def http_ready(address: Address) -> bool:
    """True when `GET /readyz` on the backend answers 200."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(*address)
            try:
                writer.write(b"GET /readyz HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n")
                await writer.drain()
                status = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False
    parts = status.split()
    return len(parts) >= 2 and parts[1] == b"200"


@dataclass
class Backends:
    """The replicas behind one name; which to try, in which order, for a new connection."""

    resolve: Resolver
    probe: ReadyProbe = http_ready
    ready_ttl: float = READY_TTL
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _ready: dict[Address, tuple[float, bool]] = field(default_factory=dict)

    async def candidates(self) -> list[Address]:
        """Ready replicas first, rotated round-robin; then the others (last resort)."""
        addresses = await self.resolve()
        if not addresses:
            return []
        start = next(self._counter) % len(addresses)
        rotated = addresses[start:] + addresses[:start]
        ready = await asyncio.gather(*(self._is_ready(a) for a in rotated))
        return [a for a, ok in zip(rotated, ready, strict=True) if ok] + [
            a for a, ok in zip(rotated, ready, strict=True) if not ok
        ]

    async def _is_ready(self, address: Address) -> bool:
        now = asyncio.get_running_loop().time()
        cached = self._ready.get(address)
        if cached is not None and now - cached[0] < self.ready_ttl:
            return cached[1]
        ok = await self.probe(address)
        self._ready[address] = (now, ok)
        return ok


class TcpProxy:
    """Accepts TCP connections and pipes each to the first backend that accepts it."""

    def __init__(self, backends: Backends, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.backends = backends
        self.connect_timeout = connect_timeout
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port listened on (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("proxy not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._accept, host, port)
        log.info("proxy listening on %s:%s", host, self.port)

    async def close(self) -> None:
        """Stop accepting and cut every piped connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            candidates = await self.backends.candidates()
        except OSError as exc:
            log.warning("cannot resolve the backends: %s", exc)
            return
        for address in candidates:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    up_reader, up_writer = await asyncio.open_connection(*address)
            except (OSError, TimeoutError) as exc:
                log.warning("backend %s:%s refused a connection: %r", *address, exc)
                continue
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
            return
        log.error("no backend accepted the connection (%d tried)", len(candidates))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close the other side (so its own EOF travels on)."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


def _address(value: str) -> Address:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    """The `csms proxy` command line."""
    parser = argparse.ArgumentParser(
        prog="csms proxy",
        description="TCP proxy spreading connections over every address a backend name "
        "resolves to (the gateway replicas of `docker compose --scale gateway=N`).",
    )
    any_host = "0.0.0.0"  # charge points come from outside the container
    parser.add_argument("--listen", type=_address, default=(any_host, 9000), metavar="HOST:PORT")
    parser.add_argument("--backend", type=_address, default=("gateway", 9000), metavar="HOST:PORT")
    return parser


async def serve(listen: Address, backend: Address, stopping: asyncio.Event) -> None:
    """Run until `stopping` is set."""
    proxy = TcpProxy(Backends(dns_resolver(*backend)))
    await proxy.start(*listen)
    try:
        await stopping.wait()
    finally:
        await proxy.close()


def main(argv: Sequence[str]) -> int:
    """Run `csms proxy` until SIGTERM / SIGINT."""
    args = build_parser().parse_args(list(argv))

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await serve(args.listen, args.backend, stopping)

    asyncio.run(run())
    return 0
