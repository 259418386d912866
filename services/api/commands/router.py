"""`POST /chargepoints/{chargepoint_id}/commands/<command>`: one route per OCPP 1.6 command.

Each route has its own typed body (services/api/commands/schemas.py), so the OpenAPI document
lists every command's request and response schema. Answers:
200 the charge point's response payload (snake_case; header `X-Command-Id` = command log id),
404 unknown charge point, 409 not connected, 422 invalid body, 502 the charge point's
CALLERROR, 503 broker unavailable, 504 no answer in time; 401/403 as everywhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.commands import service
from services.api.commands.schemas import (
    COMMANDS,
    CallErrorBody,
    CallErrorInfo,
    CallErrorResponse,
    CommandSpec,
)
from services.api.common import SafeStr
from services.api.deps import CurrentUser, Principal, SessionDep, SettingsDep, require_role
from services.api.errors import ApiError, ErrorResponse
from shared.commands import (
    CallError,
    CommandBus,
    NotConnected,
    Result,
    TimedOut,
    to_camel,
    to_snake,
)

COMMAND_ID_HEADER = "X-Command-Id"
MAX_TIMEOUT = 300.0

router = APIRouter(prefix="/chargepoints/{chargepoint_id}/commands", tags=["commands"])


class ChargePointNotConnected(ApiError):
    """409: no gateway node holds a connection of the charge point."""

    status_code = 409
    code = "not_connected"


class CommandTimeout(ApiError):
    """504: the charge point did not answer in time."""

    status_code = 504
    code = "timeout"


class ServiceUnavailable(ApiError):
    """503: the message broker cannot be reached."""

    status_code = 503
    code = "unavailable"


def get_bus(request: Request) -> CommandBus:
    """The app's Bus (`app.state.bus`, connected by the app's lifespan)."""
    bus: CommandBus | None = getattr(request.app.state, "bus", None)
    if bus is None:
        raise ServiceUnavailable("the message broker is not available")
    return bus


ChargePointId = Annotated[SafeStr, Path(min_length=1, max_length=255)]
Timeout = Annotated[
    float | None,
    Query(
        gt=0,
        le=MAX_TIMEOUT,
        description="Seconds to wait for the charge point (default CSMS_COMMAND_TIMEOUT; the "
        "gateway never waits longer than that).",
    ),
]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


def _responses(spec: CommandSpec) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "model": spec.response,
            "description": f"The charge point's {spec.action}.conf, keys in snake_case.",
            "headers": {
                COMMAND_ID_HEADER: {
                    "description": "Id of the command log entry",
                    "schema": {"type": "string", "format": "uuid"},
                }
            },
        },
        400: _error("Malformed request body (not JSON)"),
        401: _error("Missing or invalid credentials"),
        403: _error("The caller's role may not send this command"),
        404: _error("Unknown charge point"),
        409: _error("The charge point is not connected"),
        422: _error("Invalid body; `details[].field` names the offending field"),
        502: {
            "model": CallErrorResponse,
            "description": "The charge point answered with a CALLERROR (`error.call_error`)",
        },
        503: _error("The message broker is not available"),
        504: _error("The charge point did not answer in time"),
    }


async def run_command(
    *,
    spec: CommandSpec,
    chargepoint_id: str,
    body: BaseModel,
    principal: Principal,
    session: AsyncSession,
    bus: CommandBus,
    timeout: float,
) -> Response:
    """Send the command and turn its outcome into the HTTP answer."""
    payload: dict[str, Any] = to_camel(body.model_dump(mode="json", exclude_none=True))
    sent = await service.send(
        session=session,
        bus=bus,
        principal=principal,
        chargepoint_id=chargepoint_id,
        action=spec.action,
        payload=payload,
        timeout=timeout,
    )
    headers = {COMMAND_ID_HEADER: str(sent.command_id)}
    outcome = sent.outcome
    if isinstance(outcome, Result):
        return JSONResponse(to_snake(outcome.payload), headers=headers)
    if isinstance(outcome, CallError):
        answer = CallErrorResponse(
            error=CallErrorBody(
                code="call_error",
                message=f"the charge point answered {outcome.code}"
                + (f": {outcome.description}" if outcome.description else ""),
                call_error=CallErrorInfo(
                    code=outcome.code, description=outcome.description, details=outcome.details
                ),
            )
        )
        return JSONResponse(answer.model_dump(mode="json"), status_code=502, headers=headers)
    if isinstance(outcome, NotConnected):
        raise _with_headers(ChargePointNotConnected(f"{chargepoint_id} is not connected"), headers)
    if isinstance(outcome, TimedOut):
        raise _with_headers(
            CommandTimeout(f"{chargepoint_id} did not answer {spec.action} in time"), headers
        )
    raise _with_headers(ServiceUnavailable("the message broker is not available"), headers)


def _with_headers(error: ApiError, headers: dict[str, str]) -> ApiError:
    error.headers = {**(error.headers or {}), **headers}
    return error


Endpoint = Callable[..., Awaitable[Response]]


def _endpoint(spec: CommandSpec) -> Endpoint:
    """A route function whose `body` parameter is typed with the command's request model."""

    async def endpoint(
        chargepoint_id: ChargePointId,
        body: BaseModel,
        principal: CurrentUser,
        session: SessionDep,
        settings: SettingsDep,
        request: Request,
        timeout: Timeout = None,
    ) -> Response:
        # Looked up here, not as a dependency: a body that is not a valid request is a 422
        # whatever the broker's state (a dependency's 503 would be raised before validation).
        return await run_command(
            spec=spec,
            chargepoint_id=chargepoint_id,
            body=body,
            principal=principal,
            session=session,
            bus=get_bus(request),
            timeout=min(timeout or settings.command_timeout, MAX_TIMEOUT),
        )

    signature = inspect.signature(endpoint)
    body = (
        inspect.Parameter(
            "body",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[spec.request, Body()],
        )
        if spec.body_required
        else inspect.Parameter(
            "body",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[spec.request, Body()],
            default=spec.request(),
        )
    )
    params = [body if p.name == "body" else p for p in signature.parameters.values()]
    # Parameters with defaults last (the optional body moves behind the dependencies).
    params.sort(key=lambda p: p.default is not inspect.Parameter.empty)
    endpoint.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"command_{spec.slug.replace('-', '_')}"
    endpoint.__doc__ = f"Send OCPP 1.6 {spec.action} to the charge point and return its answer."
    return endpoint


def _dependencies(spec: CommandSpec) -> list[Any]:
    # Drivers may send only remote start/stop (their own id tag / transaction: see service).
    if spec.action in service.DRIVER_COMMANDS:
        return []
    return [Depends(require_role("admin", "operator"))]


for _spec in COMMANDS.values():
    router.add_api_route(
        f"/{_spec.slug}",
        _endpoint(_spec),
        methods=["POST"],
        summary=_spec.action,
        name=f"command_{_spec.slug.replace('-', '_')}",
        responses=_responses(_spec),
        dependencies=_dependencies(_spec),
    )
