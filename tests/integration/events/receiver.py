"""A real HTTP server for the event tests: a webhook receiver, or the API for SSE.

`serve(app)` runs an ASGI app with uvicorn on a free 127.0.0.1 port in this event loop.
`Receiver` records every request (headers, raw body) and answers what `answer` decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp


@contextlib.asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on a free port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)
        sock.close()


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


Answer = Callable[[Received], Awaitable[int]]


async def ok(_: Received) -> int:
    return 200


@dataclass
class Receiver:
    """Records requests per path; `answers[path]` decides the status (200 by default)."""

    answers: dict[str, Answer] = field(default_factory=dict)
    got: list[Received] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            got = Received(
                request.url.path,
                {k.lower(): v for k, v in request.headers.items()},
                await request.body(),
            )
            self.got.append(got)
            status = await self.answers.get(got.path, ok)(got)
            headers = {"Location": "/redirected"} if 300 <= status < 400 else None
            return Response(status_code=status, headers=headers)

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST", "GET"])])

    def at(self, path: str) -> list[Received]:
        return [g for g in self.got if g.path == path]
