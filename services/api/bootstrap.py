"""The first admin, created at start when the database has no admin."""

from __future__ import annotations

import logging

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.security import hash_password
from shared.db.models import User
from shared.settings import Settings

log = logging.getLogger(__name__)

# Serialises concurrent API replicas starting at once (pg advisory lock key).
_BOOTSTRAP_LOCK = 0x637336D5


async def ensure_admin(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> bool:
    """Create the admin from CSMS_ADMIN_EMAIL / CSMS_ADMIN_PASSWORD unless one exists."""
    email = settings.admin_email.strip().lower()
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOTSTRAP_LOCK})
        has_admin = await session.scalar(select(User.id).where(User.role == "admin").limit(1))
        if has_admin is not None:
            return False
        existing = await session.scalar(select(User).where(User.email == email))
        if existing is not None:
            log.warning(
                "no admin exists and CSMS_ADMIN_EMAIL belongs to a non-admin user; "
                "not promoting it",
                extra={"email": email},
            )
            return False
        session.add(
            User(
                email=email,
                password_hash=hash_password(settings.admin_password.get_secret_value()),
                role="admin",
                is_active=True,
            )
        )
    log.info("created the first admin", extra={"email": email})
    return True
