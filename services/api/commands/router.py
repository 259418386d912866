"""`POST /chargepoints/{chargepoint_id}/commands/<command>`: one route per command path.

A path is a command of OCPP 1.6, of 2.0.1, or of both (`reset`, `reserve-now`, ...): the
charge point's negotiated version (`chargepoint.ocpp_version`) picks the command and the body
model (services/api/commands/schemas.py); the OpenAPI document lists each version's body.
Answers: 200 the charge point's response payload (snake_case; header `X-Command-Id` =
command log id), 404 unknown charge point, 409 `unsupported_for_version` (no command of the
charge point's version, or a body of the other version: nothing is sent), 409 not
connected, 422 invalid body (checked against the version's model) or `refused_by_gateway`,
502 the charge point's CALLERROR (`call_error`), its invalid answer (`invalid_answer`) or
the gateway's failure (`gateway_error`), 503 broker unavailable, 504 no answer in time;
401/403 as everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Union

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.commands import service
from services.api.commands.schemas import (
    SLUGS,
    CallErrorBody,
    CallErrorInfo,
    CallErrorResponse,
    CommandSpec,
)
from services.api.common import SafeStr
from services.api.deps import CurrentUser, Principal, SessionDep, SettingsDep, require_role
from services.api.errors import ApiError, ErrorDetail, ErrorResponse
from shared.commands import (
    GATEWAY_FAILED,
    GATEWAY_UNSUPPORTED,
    SOURCE_GATEWAY,
    CallError,
    CommandBus,
    CommandOutcome,
    NotConnected,
    Refused,
    Result,
    TimedOut,
    equivalent,
    kebab,
    to_snake,
)
from shared.ocpp import OCPP16, OCPP201

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


class UnsupportedForVersion(ApiError):
    """409: the command (or its body) is not one of the charge point's OCPP version."""

    status_code = 409
    code = "unsupported_for_version"


class RefusedByGateway(ApiError):
    """422: the gateway's schema check of the charge point's version refused the request."""

    status_code = 422
    code = "refused_by_gateway"


class GatewayFailed(ApiError):
    """502: the gateway failed while handling the command (not the charge point's answer)."""

    status_code = 502
    code = "gateway_error"


class InvalidAnswer(ApiError):
    """502: the charge point answered with a payload its version's schema refuses."""

    status_code = 502
    code = "invalid_answer"


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


def _responses(specs: Sequence[CommandSpec]) -> dict[int | str, dict[str, Any]]:
    answers = " / ".join(f"{_version_label(s.version)} {s.action}" for s in specs)
    model: Any = specs[0].response
    if len(specs) > 1:
        model = Union[tuple(s.response for s in specs)]  # noqa: UP007 - a runtime union
    return {
        200: {
            "model": model,
            "description": f"The charge point's answer ({answers}), keys in snake_case.",
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
        409: _error(
            "`unsupported_for_version`: not a command (or not a body) of the charge point's "
            "OCPP version, the message names the version's equivalent; nothing was sent. "
            "`not_connected`: the charge point is not connected"
        ),
        422: _error(
            "Invalid body for the charge point's version (`validation_error`, "
            "`details[].field` names the field), or `refused_by_gateway`: the gateway's "
            "schema check refused it (nothing was sent)"
        ),
        502: {
            "model": CallErrorResponse,
            "description": "`call_error`: the charge point answered with a CALLERROR "
            "(`error.call_error`); `invalid_answer`: its answer fails the schema; "
            "`gateway_error`: the gateway failed",
        },
        503: _error("The message broker is not available"),
        504: _error("The charge point did not answer in time"),
    }


def _version_label(version: str) -> str:
    return {OCPP16: "OCPP 1.6", OCPP201: "OCPP 2.0.1"}.get(version, version)


def _loc_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {**err, "loc": ("body", *err["loc"])}
        for err in exc.errors(include_url=False, include_context=False)
    ]


async def _raw_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        # The stdlib parser, as FastAPI's: it reads NaN / Infinity, which the models then
        # refuse with the field's name (orjson would call the whole body malformed).
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}]
        ) from None
    except UnicodeDecodeError:
        # As FastAPI answers a body it cannot parse at all: 400.
        raise ApiError("the body is not UTF-8 encoded JSON") from None


def _accepts(spec: CommandSpec, body: Any) -> BaseModel | None:
    try:
        return spec.request.model_validate(body)
    except ValidationError:
        return None


def _unsupported(slug: str, version: str, specs: Sequence[CommandSpec]) -> UnsupportedForVersion:
    label = _version_label(version)
    for spec in specs:
        other = equivalent(spec.action, version)
        if other is not None:
            return UnsupportedForVersion(
                f"{slug} is not an {label} command; use {kebab(other)}",
                details=[
                    ErrorDetail(field="command", message=kebab(other), type="equivalent_command")
                ],
            )
    return UnsupportedForVersion(f"{slug} is not an {label} command; {label} has no equivalent")


def select_command(
    *, slug: str, specs: Sequence[CommandSpec], version: str | None, body: Any
) -> tuple[CommandSpec, BaseModel]:
    """The command (and its validated body) for a charge point speaking `version`.

    409 `unsupported_for_version` when the path is no command of that version, or the body
    is one of the other version's command; 422 when it is neither. A charge point whose
    version is unknown (never connected) gets the first version whose model takes the body.
    """
    by_version = {spec.version: spec for spec in specs}
    if version is None:
        for spec in specs:
            model = _accepts(spec, body)
            if model is not None:
                return spec, model
        spec = specs[0]
    elif version not in by_version:
        raise _unsupported(slug, version, specs)
    else:
        spec = by_version[version]
    try:
        return spec, spec.request.model_validate(body)
    except ValidationError as exc:
        for other in specs:
            if other is not spec and _accepts(other, body) is not None:
                raise UnsupportedForVersion(
                    f"the body is an {_version_label(other.version)} {other.action}; the charge "
                    f"point speaks {_version_label(spec.version)}: send its {spec.action} body",
                    details=[
                        ErrorDetail(
                            field="body", message=spec.request.__name__, type="expected_model"
                        )
                    ],
                ) from None
        raise RequestValidationError(_loc_errors(exc)) from None


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
    """Send the command (as `spec.version`'s) and turn its outcome into the HTTP answer."""
    payload: dict[str, Any] = spec.payload(body)
    sent = await service.send(
        session=session,
        bus=bus,
        principal=principal,
        chargepoint_id=chargepoint_id,
        action=spec.action,
        payload=payload,
        timeout=timeout,
        ocpp_version=spec.version,
    )
    headers = {COMMAND_ID_HEADER: str(sent.command_id)}
    outcome = sent.outcome
    if isinstance(outcome, Result):
        return JSONResponse(to_snake(outcome.payload, spec.version), headers=headers)
    failure = gateway_failure(outcome, chargepoint_id=chargepoint_id, action=spec.action)
    if failure is not None:
        raise _with_headers(failure, headers)
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


def _gateway_details(details: dict[str, Any]) -> list[ErrorDetail]:
    path = details.get("path")
    code = details.get("ocpp_code")
    if not isinstance(path, str):
        return []
    return [
        ErrorDetail(
            field=path.replace("payload", "body", 1),
            message=str(details.get("rule", "")),
            type=str(code) if code else None,
        )
    ]


def gateway_failure(
    outcome: CommandOutcome | None, *, chargepoint_id: str, action: str
) -> ApiError | None:
    """The API error of an outcome the gateway itself caused (it refused the command, failed,
    or found the charge point's answer invalid); None for any other outcome."""
    if isinstance(outcome, CallError) and outcome.source == SOURCE_GATEWAY:
        return InvalidAnswer(
            outcome.description or f"{chargepoint_id} answered {action} invalidly",
            details=_gateway_details(outcome.details),
        )
    if not isinstance(outcome, Refused):
        return None
    if outcome.code == GATEWAY_UNSUPPORTED:
        version = outcome.details.get("ocpp_version")
        if isinstance(version, str):
            other = equivalent(action, version)
            hint = f"; use {kebab(other)}" if other and other != action else ""
            return UnsupportedForVersion(
                f"the gateway refused {action}: {chargepoint_id} speaks {version}{hint}"
            )
        return UnsupportedForVersion(f"the gateway refused {action}: {outcome.description}")
    if outcome.code == GATEWAY_FAILED:
        return GatewayFailed(f"the gateway failed to send {action}: {outcome.description}")
    return RefusedByGateway(
        f"the gateway refused {action} (not sent): {outcome.description}",
        details=_gateway_details(outcome.details),
    )


def _with_headers(error: ApiError, headers: dict[str, str]) -> ApiError:
    error.headers = {**(error.headers or {}), **headers}
    return error


Endpoint = Callable[..., Awaitable[Response]]


def _endpoint(slug: str, specs: Sequence[CommandSpec]) -> Endpoint:
    """The route function of one command path; the body is read and checked per version."""

    async def endpoint(
        chargepoint_id: ChargePointId,
        principal: CurrentUser,
        session: SessionDep,
        settings: SettingsDep,
        request: Request,
        timeout: Timeout = None,
    ) -> Response:
        raw = await _raw_body(request)
        service.check_driver_action(principal=principal, action=specs[0].action)
        version = await service.chargepoint_version(session=session, chargepoint_id=chargepoint_id)
        spec, body = select_command(slug=slug, specs=specs, version=version, body=raw)
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

    endpoint.__name__ = f"command_{slug.replace('-', '_')}"
    endpoint.__doc__ = (
        "Send "
        + " / ".join(f"{_version_label(s.version)} {s.action}" for s in specs)
        + " to the charge point (by its negotiated version) and return its answer."
    )
    return endpoint


def _request_body(specs: Sequence[CommandSpec]) -> dict[str, Any]:
    refs = [{"$ref": f"#/components/schemas/{s.request.__name__}"} for s in specs]
    return {
        "requestBody": {
            "required": all(s.body_required for s in specs),
            "description": "The command's body for the charge point's OCPP version: "
            + "; ".join(f"{_version_label(s.version)}: `{s.request.__name__}`" for s in specs),
            "content": {
                "application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}
            },
        }
    }


def _dependencies(specs: Sequence[CommandSpec]) -> list[Any]:
    # Drivers may send only remote start/stop (their own id tag / transaction: see service).
    if all(spec.action in service.DRIVER_COMMANDS for spec in specs):
        return []
    return [Depends(require_role("admin", "operator"))]


def command_paths() -> dict[str, list[CommandSpec]]:
    """REST path segment -> its commands, 1.6 first."""
    paths: dict[str, list[CommandSpec]] = {}
    for version in (OCPP16, OCPP201):
        for slug, spec in SLUGS[version].items():
            paths.setdefault(slug, []).append(spec)
    return paths


def request_schemas() -> dict[str, Any]:
    """The OpenAPI component schemas of every command's request body."""
    models = [spec.request for specs in command_paths().values() for spec in specs]
    _, top = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas


def install_openapi(app: FastAPI) -> None:
    """Add the command request bodies (read per version by the routes) to `app`'s OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in request_schemas().items():
            if name in components and components[name] != schema:
                raise RuntimeError(f"two OpenAPI schemas are named {name}")
            components[name] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]


for _slug, _specs in command_paths().items():
    router.add_api_route(
        f"/{_slug}",
        _endpoint(_slug, _specs),
        methods=["POST"],
        summary=" / ".join(dict.fromkeys(s.action for s in _specs)),
        name=f"command_{_slug.replace('-', '_')}",
        responses=_responses(_specs),
        dependencies=_dependencies(_specs),
        openapi_extra=_request_body(_specs),
    )
