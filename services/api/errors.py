"""One error format for every response: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """One problem with the request; `field` is the dotted location (`body.name`, `query.limit`)."""

    field: str | None = None
    message: str
    type: str | None = None


class ErrorBody(BaseModel):
    """The machine-readable code, a human message and per-field details."""

    code: str = Field(examples=["not_found"])
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API has this shape."""

    error: ErrorBody


class ApiError(Exception):
    """An error the API answers with a given status and code."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[ErrorDetail] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers = headers


class Unauthorized(ApiError):
    """No or invalid credentials."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "not authenticated") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    """Authenticated, but the role may not do this."""

    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    """No such object (or not one the caller may see)."""

    status_code = 404
    code = "not_found"

    def __init__(self, resource: str, key: object) -> None:
        super().__init__(f"{resource} {key} not found")


class Conflict(ApiError):
    """The request contradicts what is stored (duplicate key, object in use)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The upload is bigger than allowed."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    """The upload is not of an accepted type."""

    status_code = 415
    code = "unsupported_media_type"


class TooManyRequests(ApiError):
    """Too many failed attempts: wait `retry_after` seconds."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class Unprocessable(ApiError):
    """Well-formed but semantically invalid input, tied to one field."""

    status_code = 422
    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", details=[ErrorDetail(field=field, message=message)])


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}

_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "The caller's role may not do this",
    404: "Not found (or not visible to the caller)",
    409: "Conflict with stored data",
    413: "Upload too large",
    415: "Unsupported media type",
    422: "Validation error; `details[].field` names the offending field",
    429: "Too many failed attempts; try again after `Retry-After` seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses (and 400), all ErrorResponse."""
    return {
        code: {"model": ErrorResponse, "description": _DESCRIPTIONS.get(code, "Error")}
        for code in sorted({400, *codes})
    }


def error_json(
    status_code: int,
    message: str,
    *,
    code: str | None = None,
    details: Sequence[ErrorDetail] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSONResponse in the common error format."""
    body = ErrorResponse(
        error=ErrorBody(
            code=code or _CODES.get(status_code, "error"), message=message, details=list(details)
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def _field_name(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def validation_details(errors: Sequence[Any]) -> list[ErrorDetail]:
    """Pydantic/FastAPI errors as ErrorDetails naming each field."""
    details = []
    for err in errors:
        loc = err.get("loc", ()) if isinstance(err, dict) else ()
        details.append(
            ErrorDetail(
                field=_field_name(loc) or None,
                message=str(err.get("msg", "invalid")) if isinstance(err, dict) else str(err),
                type=str(err.get("type")) if isinstance(err, dict) and err.get("type") else None,
            )
        )
    return details


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(
        exc.status_code, exc.message, code=exc.code, details=exc.details, headers=exc.headers
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = validation_details(exc.errors())
    fields = ", ".join(d.field for d in details if d.field) or "request"
    return error_json(422, f"invalid input: {fields}", details=details)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_json(exc.status_code, str(exc.detail), headers=headers)


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # Reached only when a service did not translate the violation itself.
    log.info("integrity error", extra={"error": str(getattr(exc, "orig", exc))[:500]})
    return error_json(409, "the request conflicts with stored data")


async def _data_error(_: Request, exc: Exception) -> JSONResponse:
    log.info("data error", extra={"error": str(getattr(exc, "orig", exc))[:500]})
    return error_json(422, "a value is out of range for its field")


async def _db_error(request: Request, exc: Exception) -> JSONResponse:
    # asyncpg's SQLAlchemy dialect raises SQLSTATE class 22 (data exception: value too long,
    # out of range, NUL byte, invalid JSON such as NaN) and asyncpg's own argument-encoding
    # errors as a plain DBAPIError, never as DataError; map them by SQLSTATE instead.
    assert isinstance(exc, DBAPIError)
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    if sqlstate.startswith("22"):
        return await _data_error(request, exc)
    if sqlstate.startswith("23"):
        return await _integrity_error(request, exc)
    return await _unhandled(request, exc)


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_json(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app can answer use the common format."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(DBAPIError, _db_error)
    app.add_exception_handler(Exception, _unhandled)
