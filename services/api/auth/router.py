"""`POST /auth/token`: the OAuth2 password flow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from services.api import security
from services.api.auth import service
from services.api.auth.schemas import Token
from services.api.common import SafeStr
from services.api.deps import SessionDep, SettingsDep
from services.api.errors import Unauthorized, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=Token,
    summary="Log in (OAuth2 password flow)",
    responses=error_responses(401, 422),
)
async def login(
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[SafeStr, Form(min_length=1, max_length=320, description="Email")],
    password: Annotated[SafeStr, Form(min_length=1, max_length=1024)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1024)] = "",
) -> Token:
    """Exchange email and password for a bearer JWT (form fields `username`, `password`)."""
    user = await service.authenticate(session=session, email=username, password=password)
    if user is None:
        raise Unauthorized("incorrect email or password")
    token, expires = security.create_access_token(
        user_id=user.id,
        role=user.role,
        secret=settings.jwt_secret.get_secret_value(),
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    return Token(access_token=token, expires_in=settings.jwt_ttl_seconds, expires_at=expires)
