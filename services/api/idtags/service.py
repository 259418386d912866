"""Id tags: CRUD, with drivers limited to their own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.deps import Principal
from services.api.errors import Conflict, NotFound, Unprocessable
from services.api.idtags.schemas import IdTagCreate, IdTagUpdate
from services.api.pagination import PageParams, paginate
from shared.db.models import IdTag, User

SORT_FIELDS = ("id_token", "expiry_date", "created_at")
_COLUMNS = {
    "id_token": IdTag.id_token,
    "expiry_date": IdTag.expiry_date,
    "created_at": IdTag.created_at,
}
# Parent chains longer than this are refused (and cycles are found within it).
MAX_PARENT_DEPTH = 16


def status_of(tag: IdTag, now: datetime | None = None) -> str:
    """What an Authorize would answer for this tag now (OCPP 1.6 AuthorizationStatus)."""
    if tag.revoked:
        return "Blocked"
    if tag.expiry_date is not None and tag.expiry_date <= (now or datetime.now(UTC)):
        return "Expired"
    return "Accepted"


def visible(stmt: Select[IdTag], principal: Principal) -> Select[IdTag]:
    """Restrict a query to the tags the caller may see (a driver: their own)."""
    if principal.is_driver:
        return stmt.where(IdTag.user_id == principal.user_id)
    return stmt


async def list_idtags(
    *,
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    user_id: uuid.UUID | None = None,
    revoked: bool | None = None,
    expired: bool | None = None,
    parent_id_tag: str | None = None,
    q: str | None = None,
) -> tuple[list[IdTag], int]:
    """Id tags matching the filters (`q`: substring of the token)."""
    stmt = visible(select(IdTag), principal)
    if user_id is not None:
        stmt = stmt.where(IdTag.user_id == user_id)
    if revoked is not None:
        stmt = stmt.where(IdTag.revoked.is_(revoked))
    if expired is not None:
        now = datetime.now(UTC)
        is_expired = IdTag.expiry_date.is_not(None) & (IdTag.expiry_date <= now)
        stmt = stmt.where(is_expired if expired else or_(IdTag.expiry_date.is_(None), ~is_expired))
    if parent_id_tag is not None:
        stmt = stmt.where(IdTag.parent_id_tag == parent_id_tag)
    if q:
        stmt = stmt.where(IdTag.id_token.icontains(q, autoescape=True))
    return await paginate(session, stmt, params=params, columns=_COLUMNS, tiebreak=IdTag.id_token)


async def get_idtag(*, session: AsyncSession, principal: Principal, id_token: str) -> IdTag:
    """The tag, or NotFound (also for another driver's tag)."""
    tag = await session.scalar(visible(select(IdTag).where(IdTag.id_token == id_token), principal))
    if tag is None:
        raise NotFound("id tag", id_token)
    return tag


async def _check_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    if await session.get(User, user_id) is None:
        raise Unprocessable("body.user_id", f"user {user_id} does not exist")


async def _check_parent(session: AsyncSession, id_token: str, parent: str) -> None:
    current: str | None = parent
    for _ in range(MAX_PARENT_DEPTH):
        if current is None:
            return
        if current == id_token:
            raise Unprocessable("body.parent_id_tag", "a tag cannot be its own ancestor")
        row = await session.get(IdTag, current)
        if row is None:
            field = "body.parent_id_tag"
            if current == parent:
                raise Unprocessable(field, f"id tag {parent} does not exist")
            return
        current = row.parent_id_tag
    raise Unprocessable("body.parent_id_tag", f"parent chain longer than {MAX_PARENT_DEPTH}")


async def _commit(session: AsyncSession, message: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(message) from None


async def create_idtag(
    *, session: AsyncSession, data: IdTagCreate, default_max_active: int | None = None
) -> IdTag:
    """Create a tag; Conflict when the token exists. Without `max_active_transactions` in the
    body it gets `default_max_active` (CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS); an explicit
    null is unlimited."""
    if await session.get(IdTag, data.id_token) is not None:
        raise Conflict(f"id tag {data.id_token} exists")
    if data.user_id is not None:
        await _check_user(session, data.user_id)
    if data.parent_id_tag is not None:
        await _check_parent(session, data.id_token, data.parent_id_tag)
    values = data.model_dump()
    if "max_active_transactions" not in data.model_fields_set:
        values["max_active_transactions"] = default_max_active
    tag = IdTag(**values)
    session.add(tag)
    await _commit(session, f"id tag {data.id_token} exists")
    await session.refresh(tag)
    return tag


async def update_idtag(
    *, session: AsyncSession, principal: Principal, id_token: str, data: IdTagUpdate
) -> IdTag:
    """Change expiry, revoked flag, user link or parent."""
    tag = await get_idtag(session=session, principal=principal, id_token=id_token)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("revoked", False) is None:
        raise Unprocessable("body.revoked", "revoked cannot be null")
    if changes.get("master_pass", False) is None:
        raise Unprocessable("body.master_pass", "master_pass cannot be null")
    if changes.get("user_id") is not None:
        await _check_user(session, changes["user_id"])
    if changes.get("parent_id_tag") is not None:
        await _check_parent(session, tag.id_token, changes["parent_id_tag"])
    for key, value in changes.items():
        setattr(tag, key, value)
    await _commit(session, "the change conflicts with stored data")
    await session.refresh(tag)
    return tag


async def delete_idtag(*, session: AsyncSession, principal: Principal, id_token: str) -> None:
    """Delete a tag (its transactions keep the token; child tags lose their parent)."""
    tag = await get_idtag(session=session, principal=principal, id_token=id_token)
    await session.delete(tag)
    await _commit(session, "the id tag is still referenced")
