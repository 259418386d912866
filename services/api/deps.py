"""FastAPI dependencies as `Annotated` aliases: settings, database session, the caller."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api import security
from services.api.errors import Forbidden, Unauthorized
from shared.db.models import ApiKey, User
from shared.settings import Settings

ROLES = ("admin", "operator", "driver")
# last_used_at of an API key is refreshed at most this often (not a write per request).
API_KEY_TOUCH_INTERVAL = timedelta(seconds=60)

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    description="A JWT from `POST /api/v1/auth/token`, or an API key, as a bearer token.",
)
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key created by an admin."
)


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; services commit what they write, the rest is rolled back."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a logged-in user, or an API key scoped to a role."""

    role: str
    user: User | None = None
    api_key_id: uuid.UUID | None = None
    api_key_name: str | None = None

    @property
    def user_id(self) -> uuid.UUID | None:
        """The user's id, None for an API key."""
        return self.user.id if self.user is not None else None

    @property
    def is_driver(self) -> bool:
        """Drivers see only their own id tags, transactions and reservations."""
        return self.role == "driver"

    @property
    def label(self) -> str:
        """A name for logs and `requested_by` columns."""
        if self.user is not None:
            return self.user.email
        return f"api-key:{self.api_key_name}"


async def _principal_from_api_key(session: AsyncSession, key: str) -> Principal:
    prefix = key[: security.API_KEY_PREFIX_LENGTH]
    row = (
        await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not security.api_key_matches(key, row.key_hash):
        raise Unauthorized("invalid API key")
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > API_KEY_TOUCH_INTERVAL:
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        await session.commit()
    return Principal(role=row.role, api_key_id=row.id, api_key_name=row.name)


async def _principal_from_token(session: AsyncSession, token: str, secret: str) -> Principal:
    try:
        claims = security.decode_access_token(token, secret=secret)
    except security.InvalidToken:
        raise Unauthorized("invalid or expired token") from None
    user = await session.get(User, claims.subject)
    if user is None or not user.is_active:
        raise Unauthorized("invalid or expired token")
    # The role is read from the database, so a changed role applies at once.
    return Principal(role=user.role, user=user)


async def get_principal(
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    x_api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """Authenticate the request (bearer JWT, bearer API key, or X-API-Key)."""
    if x_api_key:
        return await _principal_from_api_key(session, x_api_key)
    if not bearer:
        raise Unauthorized()
    if security.looks_like_api_key(bearer):
        return await _principal_from_api_key(session, bearer)
    return await _principal_from_token(session, bearer, settings.jwt_secret.get_secret_value())


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency letting only the given roles through (403 for the others)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def dependency(principal: CurrentUser) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"requires role {' or '.join(roles)}")
        return principal

    return dependency


AdminUser = Annotated[Principal, Depends(require_role("admin"))]
OperatorUser = Annotated[Principal, Depends(require_role("admin", "operator"))]


def require_user(principal: CurrentUser) -> Principal:
    """Endpoints about "me" need a user, not an API key."""
    if principal.user is None:
        raise Forbidden("this endpoint needs a user login, not an API key")
    return principal


MeUser = Annotated[Principal, Depends(require_user)]
