"""A tiny HTTP server for the consumer services: `/healthz`, `/readyz`, `/metrics`.

It runs on the service's own event loop (asyncio.start_server, no thread, no framework) so
that `/healthz` answering proves the loop is alive, and it installs no signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import orjson

from shared import metrics

ReadinessCheck = Callable[[], Awaitable[bool]]

log = logging.getLogger(__name__)

_MAX_HEADER_BYTES = 16 * 1024
_READ_TIMEOUT = 5.0


class HealthServer:
    """Liveness, readiness and metrics over HTTP; port 0 disables it."""

    def __init__(
        self,
        port: int,
        *,
        host: str = "0.0.0.0",  # probes come from outside the pod
        check_timeout: float = 2.0,
    ) -> None:
        self.host = host
        self.port = port
        self.check_timeout = check_timeout
        self._checks: dict[str, ReadinessCheck] = {}
        self._server: asyncio.Server | None = None
        self._draining = False

    @property
    def enabled(self) -> bool:
        """False when configured with port 0."""
        return self.port != 0

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on, once started."""
        if self._server is None or not self._server.sockets:
            return None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        """Register a readiness check: an async callable returning True when ready."""
        self._checks[name] = check

    def set_draining(self) -> None:
        """Report not-ready from now on (the process is shutting down)."""
        self._draining = True

    async def start(self) -> None:
        """Start listening (no-op when disabled)."""
        if not self.enabled or self._server is not None:
            return
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        log.info("health server listening on %s:%s", self.host, self.bound_port)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), timeout=2.0)

    async def run_checks(self) -> dict[str, bool]:
        """Run every readiness check concurrently; a timeout or exception counts as failed."""
        names = list(self._checks)
        results = await asyncio.gather(
            *(self._run_check(name, self._checks[name]) for name in names)
        )
        return dict(zip(names, results, strict=True))

    async def _run_check(self, name: str, check: ReadinessCheck) -> bool:
        try:
            return bool(await asyncio.wait_for(check(), timeout=self.check_timeout))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.debug("readiness check failed", extra={"check": name, "error": repr(exc)})
            return False

    async def _respond(self, path: str) -> tuple[HTTPStatus, bytes, str]:
        if path == "/healthz":
            return HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8"
        if path == "/readyz":
            results = await self.run_checks()
            failed = [name for name, ok in results.items() if not ok]
            if self._draining:
                failed.append("shutting_down")
            body = {
                "status": "not ready" if failed else "ready",
                "checks": {name: "ok" if ok else "failed" for name, ok in results.items()},
                "failed": failed,
            }
            status = HTTPStatus.SERVICE_UNAVAILABLE if failed else HTTPStatus.OK
            metrics.READY.set(0 if failed else 1)
            return status, orjson.dumps(body) + b"\n", "application/json"
        if path == "/metrics":
            data, content_type = metrics.render()
            return HTTPStatus.OK, data, content_type
        return HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            if len(head) > _MAX_HEADER_BYTES:
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(parts) != 3:
                await self._write(writer, HTTPStatus.BAD_REQUEST, b"bad request\n", "text/plain")
                return
            method, target, _ = parts
            path = target.split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                await self._write(
                    writer, HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", "text/plain"
                )
                return
            status, body, content_type = await self._respond(path)
            await self._write(writer, status, body, content_type, head_only=method == "HEAD")
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _write(
        writer: asyncio.StreamWriter,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        *,
        head_only: bool = False,
    ) -> None:
        header = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        writer.write(header if head_only else header + body)
        await writer.drain()
