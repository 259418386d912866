"""The FastAPI application: `/api/v1` resources, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.apikeys.router import router as apikeys_router
from services.api.auth.router import router as auth_router
from services.api.bootstrap import ensure_admin
from services.api.certificates.router import router as certificates_router
from services.api.chargepoints.rotation import router as password_rotation_router
from services.api.chargepoints.router import router as chargepoints_router
from services.api.chargingprofiles.router import composite_router, decisions_router
from services.api.chargingprofiles.router import router as chargingprofiles_router
from services.api.commandlog.router import router as commandlog_router
from services.api.commands.router import install_openapi as install_command_bodies
from services.api.commands.router import router as commands_router
from services.api.devicemodel.router import router as devicemodel_router
from services.api.errors import error_json, install_error_handlers
from services.api.events.router import router as events_router
from services.api.heartbeats.router import router as heartbeats_router
from services.api.idtags.router import router as idtags_router
from services.api.locallist.router import router as locallist_router
from services.api.locations.router import router as locations_router
from services.api.ocppmessages.router import router as ocppmessages_router
from services.api.reservations.router import router as reservations_router
from services.api.securityevents.router import router as security_events_router
from services.api.smartcharging.router import router as smartcharging_router
from services.api.statusnotifications.router import router as statusnotifications_router
from services.api.transactions.router import router as transactions_router
from services.api.users.router import router as users_router
from services.api.webhooks.router import router as webhooks_router
from shared import metrics
from shared.bus import Bus
from shared.db.session import create_engine, create_sessionmaker
from shared.settings import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
READY_TIMEOUT = 2.0
MULTIPART_OVERHEAD = 64 * 1024


def max_body_size(settings: Settings) -> int:
    """The largest request body accepted: an upload plus room for multipart framing."""
    return settings.max_upload_bytes + MULTIPART_OVERHEAD


def route_template(scope: Scope) -> str:
    """The matched route's path template with the `/api/v1` prefix it was included under."""
    path_format = getattr(scope.get("route"), "path_format", None)
    if not isinstance(path_format, str):
        return "unmatched"
    path = str(scope.get("path", ""))
    if path.startswith(API_PREFIX + "/") and not path_format.startswith(API_PREFIX + "/"):
        return API_PREFIX + path_format
    return path_format


class BodyLimitMiddleware:
    """Refuse bodies larger than the limit with 413, in the common error format.

    A declared Content-Length is checked before anything is read; a chunked body is counted
    as it streams and cut with a 413 once it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_body_size:
                    await self._too_large(scope, receive, send)
                    return
                break
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise StarletteHTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_body_size} bytes"

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_json(413, self._message())(scope, receive, send)


class MetricsMiddleware:
    """Counts requests and observes latency by route template (pure ASGI, streams untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = route_template(scope)
            if template != "/metrics":
                metrics.observe_http_request(
                    scope["method"], template, status, time.perf_counter() - start
                )


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness", response_class=PlainTextResponse)
    async def healthz() -> str:
        """The process answers."""
        return "ok"

    @router.get(
        "/readyz",
        summary="Readiness (the database answers)",
        responses={503: {"description": "Not ready"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        """200 when `SELECT 1` succeeds within two seconds, 503 otherwise."""
        engine: AsyncEngine = request.app.state.engine
        ok = True
        try:
            async with asyncio.timeout(READY_TIMEOUT), engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("readiness check failed", extra={"error": repr(exc)})
            ok = False
        body = {"status": "ready" if ok else "not ready", "checks": {"database": ok}}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        """The text exposition of this process's metrics."""
        data, content_type = metrics.render()
        return Response(content=data, media_type=content_type)

    return router


async def _connect_bus(app: FastAPI, settings: Settings) -> None:
    """Connect the API's bus (for commands), retrying while the broker is down.

    The API serves reads without a broker; command endpoints answer 503 until connected.
    """
    delay = 0.5
    while True:
        bus = Bus(settings.amqp_url, name="api")
        try:
            await bus.connect()
        except Exception as exc:  # noqa: BLE001 - any failure: retry with backoff
            log.warning("bus not connected (%r); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        metrics.register_bus(bus)
        app.state.bus = bus
        return


def create_app(
    settings: Settings, *, engine: AsyncEngine | None = None, bus: Bus | None = None
) -> FastAPI:
    """Build the API; with no `engine` / `bus`, they are created from settings at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.login_backoff = None  # failed logins start afresh (auth/router.py)
        own = app.state.engine is None
        if own:
            app.state.engine = create_engine(
                settings.database_url, pool_size=settings.database_pool_size
            )
            app.state.sessionmaker = create_sessionmaker(app.state.engine)
        connecting = (
            asyncio.create_task(_connect_bus(app, settings)) if app.state.bus is None else None
        )
        try:
            await ensure_admin(app.state.sessionmaker, settings)
            yield
        finally:
            hub = getattr(app.state, "event_hub", None)
            if hub is not None:
                await hub.stop()
                app.state.event_hub = None
            if connecting is not None:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
                if app.state.bus is not None:
                    await app.state.bus.close()
                    app.state.bus = None
            if own:
                await app.state.engine.dispose()
                app.state.engine = None

    app = FastAPI(
        title="CSMS REST API",
        version="1.0.0",
        description="REST API of the OCPP central system for third-party apps and operators. "
        "Authenticate with `POST /api/v1/auth/token` (OAuth2 password flow) or an API key.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.bus = bus
    app.state.sessionmaker = create_sessionmaker(engine) if engine is not None else None
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_size=max_body_size(settings))
    app.add_middleware(MetricsMiddleware)
    app.include_router(_ops_router())
    api = APIRouter(prefix=API_PREFIX)
    for router in (
        auth_router,
        users_router,
        apikeys_router,
        locations_router,
        chargepoints_router,
        devicemodel_router,
        idtags_router,
        transactions_router,
        reservations_router,
        chargingprofiles_router,
        composite_router,
        decisions_router,
        statusnotifications_router,
        heartbeats_router,
        security_events_router,
        password_rotation_router,
        certificates_router,
        commandlog_router,
        ocppmessages_router,
        commands_router,
        locallist_router,
        smartcharging_router,
        webhooks_router,
        events_router,
    ):
        api.include_router(router)
    app.include_router(api)
    install_command_bodies(app)
    return app
