"""The authorization decision for an idTag (OCPP 1.6 IdTagInfo).

Shared by Authorize, StartTransaction and StopTransaction.
`decide` is pure (unit-tested for each outcome); `authorize` loads what it needs from the
database and calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ocpp.v16.enums import AuthorizationStatus
from sqlalchemy import func, select

from shared.db.models import IdTag, Transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

ACTIVE = "Active"


@dataclass(frozen=True, slots=True)
class TagRecord:
    """What the decision needs of an `id_tag` row."""

    id_token: str
    revoked: bool
    expiry_date: datetime | None
    parent_id_tag: str | None


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as OCPP expects."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _expired(tag: TagRecord, now: datetime) -> bool:
    return tag.expiry_date is not None and tag.expiry_date <= now


def decide(tag: TagRecord | None, *, now: datetime, has_active_transaction: bool) -> dict[str, Any]:
    """The IdTagInfo of a tag (None = unknown), per OCPP 1.6 AuthorizationStatus.

    First match wins: unknown Invalid, revoked Blocked, past expiry Expired, in an Active
    transaction ConcurrentTx, else Accepted; parentIdTag and expiryDate when the tag has them.
    """
    if tag is None:
        return {"status": AuthorizationStatus.invalid.value}
    if tag.revoked:
        status = AuthorizationStatus.blocked
    elif _expired(tag, now):
        status = AuthorizationStatus.expired
    elif has_active_transaction:
        status = AuthorizationStatus.concurrent_tx
    else:
        status = AuthorizationStatus.accepted
    info: dict[str, Any] = {"status": status.value}
    if tag.parent_id_tag is not None:
        info["parentIdTag"] = tag.parent_id_tag
    if tag.expiry_date is not None:
        info["expiryDate"] = format_datetime(tag.expiry_date)
    return info


# OCPP 2.0.1 IdTokenType.type of a groupIdToken: the group is a token the CSMS holds.
GROUP_TOKEN_TYPE = "Central"


def id_token_info(info: dict[str, Any]) -> dict[str, Any]:
    """The OCPP 2.0.1 IdTokenInfoType of a 1.6 IdTagInfo (the decision is the same).

    The statuses `decide` gives (Accepted, Blocked, Expired, Invalid, ConcurrentTx) all exist
    in 2.0.1 AuthorizationStatusEnumType; expiryDate -> cacheExpiryDateTime, parentIdTag ->
    groupIdToken {idToken, type Central}.
    """
    out: dict[str, Any] = {"status": info["status"]}
    if "expiryDate" in info:
        out["cacheExpiryDateTime"] = info["expiryDate"]
    if "parentIdTag" in info:
        out["groupIdToken"] = {"idToken": info["parentIdTag"], "type": GROUP_TOKEN_TYPE}
    return out


async def load_tag(session: AsyncSession, id_tag: str) -> TagRecord | None:
    """The `id_tag` row for `id_tag`: exact match, else case-insensitive.

    OCPP 1.6 IdToken is a CiString20Type, a case-insensitive string: readers differ in the
    case of hex ids, so a tag provisioned as `abcd` must match `ABCD`.
    """
    columns = (IdTag.id_token, IdTag.revoked, IdTag.expiry_date, IdTag.parent_id_tag)
    row = (await session.execute(select(*columns).where(IdTag.id_token == id_tag))).first()
    if row is None:
        row = (
            await session.execute(
                select(*columns)
                .where(func.lower(IdTag.id_token) == id_tag.lower())
                .order_by(IdTag.id_token)
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    return TagRecord(
        id_token=row.id_token,
        revoked=row.revoked,
        expiry_date=row.expiry_date,
        parent_id_tag=row.parent_id_tag,
    )


async def has_active_transaction(
    session: AsyncSession, id_tags: set[str], *, excluding: int | None = None
) -> bool:
    """Whether any of `id_tags` is in an Active transaction (other than `excluding`)."""
    query = select(Transaction.transaction_id).where(
        Transaction.id_tag.in_(id_tags), Transaction.status == ACTIVE
    )
    if excluding is not None:
        query = query.where(Transaction.transaction_id != excluding)
    return (await session.execute(query.limit(1))).first() is not None


async def authorize(
    session: AsyncSession, id_tag: str, *, now: datetime, excluding_transaction: int | None = None
) -> dict[str, Any]:
    """The IdTagInfo for `id_tag` now; `excluding_transaction` is the caller's own transaction."""
    tag = await load_tag(session, id_tag)
    active = False
    if tag is not None and not tag.revoked and not _expired(tag, now):
        active = await has_active_transaction(
            session, {id_tag, tag.id_token}, excluding=excluding_transaction
        )
    return decide(tag, now=now, has_active_transaction=active)
