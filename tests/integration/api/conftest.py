"""Fixtures of the REST API tests: the app on the test database, a client, a user per role.

Every test starts from empty tables (`clean_db`) with the bootstrapped admin. The app is built
once per session (building one costs half a second of CPU, seconds on a busy machine) and its
lifespan runs anew for every test, with that test's settings. It has no message broker (its
AMQP URL points at a port nothing listens on): command endpoints answer 503, every time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.app import create_app
from services.api.security import create_access_token, hash_password
from shared.db.models import User
from shared.settings import Environment, Settings

from .factories import Factory

ADMIN_EMAIL = "admin@csms.test"
ADMIN_PASSWORD = "admin-test-password"
JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
USER_PASSWORD = "user-test-password"
MAX_UPLOAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Actor:
    """A user of some role with a ready bearer token."""

    id: object
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header of this actor."""
        return {"Authorization": f"Bearer {self.token}"}


NO_BROKER_AMQP_URL = "amqp://guest:guest@127.0.0.1:1/none"
"""A broker URL nothing answers: the app's bus never connects (no race with a real one)."""


def make_settings(db_url: str, media_dir: Path, amqp_url: str = NO_BROKER_AMQP_URL) -> Settings:
    """Settings of an API under test (without a broker unless `amqp_url` names one)."""
    return Settings(
        env=Environment.TEST,
        database_url=db_url,
        amqp_url=amqp_url,
        admin_email=ADMIN_EMAIL,
        admin_password=SecretStr(ADMIN_PASSWORD),
        jwt_secret=SecretStr(JWT_SECRET),
        jwt_ttl_seconds=600,
        media_dir=str(media_dir),
        max_upload_bytes=MAX_UPLOAD_BYTES,
    )


def token_for(user: User) -> str:
    """A valid access token for `user`."""
    token, _ = create_access_token(
        user_id=user.id, role=user.role, secret=JWT_SECRET, ttl_seconds=600
    )
    return token


@pytest.fixture(scope="session")
def user_password_hash() -> str:
    """One argon2 hash reused by every test user (hashing is deliberately slow)."""
    return hash_password(USER_PASSWORD)


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test database and a per-test media directory."""
    return make_settings(db_url, tmp_path / "media")


@pytest.fixture(scope="session")
def built_app(
    db_url: str, db_engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> FastAPI:
    """The API built once on the shared engine (routes and schemas are the same every test).

    A test that changes the app itself (adds routes, overrides dependencies) builds its own.
    """
    return create_app(make_settings(db_url, tmp_path_factory.mktemp("media")), engine=db_engine)


@pytest.fixture
async def app(clean_db: None, api_settings: Settings, built_app: FastAPI) -> AsyncIterator[FastAPI]:
    """The API started (the admin bootstrapped) on empty tables, with this test's settings."""
    built_app.state.settings = api_settings
    async with built_app.router.lifespan_context(built_app):
        yield built_app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def add_user(
    sessionmaker: async_sessionmaker[AsyncSession], email: str, role: str, password_hash: str
) -> Actor:
    """Insert an active user and return it with a token."""
    async with sessionmaker() as session:
        user = User(email=email, role=role, password_hash=password_hash, is_active=True)
        session.add(user)
        await session.commit()
        return Actor(id=user.id, email=email, role=role, token=token_for(user))


@pytest.fixture
async def admin(app: FastAPI, db_sessionmaker: async_sessionmaker[AsyncSession]) -> Actor:
    """The admin created at startup from the settings."""
    async with db_sessionmaker() as session:
        user = (await session.execute(select(User).where(User.email == ADMIN_EMAIL))).scalar_one()
        return Actor(id=user.id, email=user.email, role=user.role, token=token_for(user))


@pytest.fixture
async def operator(
    app: FastAPI, db_sessionmaker: async_sessionmaker[AsyncSession], user_password_hash: str
) -> Actor:
    """An operator."""
    return await add_user(db_sessionmaker, "operator@csms.test", "operator", user_password_hash)


@pytest.fixture
async def driver(
    app: FastAPI, db_sessionmaker: async_sessionmaker[AsyncSession], user_password_hash: str
) -> Actor:
    """A driver."""
    return await add_user(db_sessionmaker, "driver@csms.test", "driver", user_password_hash)


@pytest.fixture
async def other_driver(
    app: FastAPI, db_sessionmaker: async_sessionmaker[AsyncSession], user_password_hash: str
) -> Actor:
    """A second driver, whose objects the first must not see."""
    return await add_user(db_sessionmaker, "other@csms.test", "driver", user_password_hash)


@pytest.fixture
def factory(app: FastAPI, db_sessionmaker: async_sessionmaker[AsyncSession]) -> Factory:
    """Row factories on the test database (tables emptied for this test)."""
    return Factory(db_sessionmaker)
