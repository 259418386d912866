"""`POST /auth/token`: the OAuth2 password flow, with brute-force back-off.

Failed logins of one account from one client address (`shared/backoff.py`, per API process):
after `CSMS_AUTH_FAILURES_BEFORE_BACKOFF` failures the pair waits 1 s, 2 s, ... up to
`CSMS_AUTH_BACKOFF_MAX_SECONDS`; meanwhile its attempts are answered 429 + Retry-After at once
(no argon2). A success forgets the pair. Unknown accounts count like known ones (same answer).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from services.api import security
from services.api.auth import service
from services.api.auth.schemas import Token
from services.api.common import SafeStr
from services.api.deps import SessionDep, SettingsDep
from services.api.errors import TooManyRequests, Unauthorized, error_responses
from shared import metrics
from shared.backoff import Backoff
from shared.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=Token,
    summary="Log in (OAuth2 password flow)",
    responses=error_responses(401, 422, 429),
)
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[SafeStr, Form(min_length=1, max_length=320, description="Email")],
    password: Annotated[SafeStr, Form(min_length=1, max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1024)] = "",
) -> Token:
    """Exchange email and password for a bearer JWT (form fields `username`, `password`)."""
    backoff = login_backoff(request, settings)
    key = (username.strip().lower(), request.client.host if request.client else "")
    wait = backoff.retry_after(key)
    if wait is not None:
        metrics.count_auth_refusal("api", "backoff")
        raise TooManyRequests("too many failed logins, try again later", retry_after=wait)
    user = await service.authenticate(session=session, email=username, password=password)
    if user is None:
        metrics.count_auth_refusal("api", "password")
        backoff.failure(key)
        raise Unauthorized("incorrect email or password")
    backoff.success(key)
    token, expires = security.create_access_token(
        user_id=user.id,
        role=user.role,
        secret=settings.jwt_secret.get_secret_value(),
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    return Token(access_token=token, expires_in=settings.jwt_ttl_seconds, expires_at=expires)


def login_backoff(request: Request, settings: Settings) -> Backoff:
    """The login back-off of this API process (made on first use)."""
    backoff: Backoff | None = getattr(request.app.state, "login_backoff", None)
    if backoff is None:
        backoff = Backoff(
            free_failures=settings.auth_failures_before_backoff,
            max_delay=settings.auth_backoff_max_seconds,
        )
        request.app.state.login_backoff = backoff
    return backoff
