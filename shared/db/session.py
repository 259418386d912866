"""Async engine and session factory (asyncpg)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    echo: bool = False,
) -> AsyncEngine:
    """An async engine for `url` (postgresql+asyncpg://...), checking connections on checkout."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        echo=echo,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to `engine`; objects stay usable after commit (`expire_on_commit=False`)."""
    return async_sessionmaker(engine, expire_on_commit=False)


# SQLSTATE classes/codes that say nothing about the statement, only about the server or the
# moment: connection exceptions (08), insufficient resources (53), serialization failure,
# deadlock, admin/crash shutdown, "cannot connect now" (starting up).
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT_CODES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})


def is_transient_db_error(exc: BaseException) -> bool:
    """True if `exc` is the database being unavailable or busy, not a problem of the data."""
    if isinstance(exc, OSError):  # connection refused / reset before SQLAlchemy wraps it
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return state.startswith(_TRANSIENT_CLASSES) or state in _TRANSIENT_CODES
    return False
