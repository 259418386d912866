"""Creating, listing and revoking API keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import security
from services.api.apikeys.schemas import ApiKeyCreate
from services.api.errors import Conflict, NotFound
from services.api.pagination import PageParams, paginate
from shared.db.models import ApiKey

SORT_FIELDS = ("name", "created_at", "last_used_at")
_COLUMNS = {
    "name": ApiKey.name,
    "created_at": ApiKey.created_at,
    "last_used_at": ApiKey.last_used_at,
}


async def list_keys(
    *, session: AsyncSession, params: PageParams, include_revoked: bool = False
) -> tuple[list[ApiKey], int]:
    """API keys, newest first by default; revoked ones only on request."""
    stmt = select(ApiKey)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return await paginate(session, stmt, params=params, columns=_COLUMNS, tiebreak=ApiKey.id)


async def create_key(
    *, session: AsyncSession, data: ApiKeyCreate, created_by: uuid.UUID | None
) -> tuple[ApiKey, str]:
    """A new key and its clear text (to show once)."""
    for _ in range(3):  # a prefix collision (48 random bits) is retried with a new key
        key, prefix, key_hash = security.generate_api_key()
        row = ApiKey(
            name=data.name, prefix=prefix, key_hash=key_hash, role=data.role, created_by=created_by
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            continue
        await session.refresh(row)
        return row, key
    raise Conflict("could not allocate a unique key prefix; try again")


async def get_key(*, session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    """The key, or NotFound."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("API key", key_id)
    return row


async def revoke_key(*, session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    """Revoke the key (idempotent; the row stays for the audit trail)."""
    row = await get_key(session=session, key_id=key_id)
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await session.commit()
    return row
