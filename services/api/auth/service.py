"""Checking credentials and issuing tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import security
from shared.db.models import User


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User | None:
    """The active user with this email and password, or None; records the login time."""
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    # argon2 in a worker thread, with no database connection held meanwhile.
    await security.end_read_transaction(session)
    ok = await security.verify_password_async(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        return None
    user.last_login_at = datetime.now(UTC)
    if security.needs_rehash(user.password_hash):
        user.password_hash = await security.hash_password_async(password)
    await session.commit()
    return user
