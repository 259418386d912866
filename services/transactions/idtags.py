"""The authorization decision for an idTag (OCPP 1.6 IdTagInfo).

Shared by Authorize, StartTransaction and StopTransaction (and their 2.0.1 counterparts).
`decide` is pure (unit-tested for each outcome); `authorize` loads what it needs from the
database and calls it.

ConcurrentTx is a per-tag limit, not "any open transaction": `id_tag.max_active_transactions`
(NULL = unlimited, the default unless CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS is set) counted
over the tag's open (`Active`) transactions only; a rejected start never counts, nor does a
transaction the CSMS closed (Superseded, Stale, Rebooted). A StopTransaction's idTagInfo
describes the tag only (`concurrency=False`): a transaction that is ending cannot be refused
for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.v16.enums import AuthorizationStatus
from sqlalchemy import false, func, select
from sqlalchemy.orm import aliased

from shared.db.enums import TX_ACTIVE
from shared.db.models import IdTag, Transaction
from shared.ocpp import format_datetime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


NO_AUTHORIZATION = "NoAuthorization"
"""OCPP 2.0.1 IdTokenEnumType NoAuthorization: no authorization is done (accepted)."""


@dataclass(frozen=True, slots=True)
class TagRecord:
    """What the decision needs of an `id_tag` row."""

    id_token: str
    revoked: bool
    expiry_date: datetime | None
    parent_id_tag: str | None
    max_active_transactions: int | None = None
    # OCPP 2.0.1 IdTokenEnumType the tag is of (None: any type matches).
    token_type: str | None = None
    # The tag is a MasterPass group, or a member of one (C16): it may stop any transaction,
    # so it is never refused ConcurrentTx.
    master_pass: bool = False


def _expired(tag: TagRecord, now: datetime) -> bool:
    return tag.expiry_date is not None and tag.expiry_date <= now


def decide(
    tag: TagRecord | None,
    *,
    now: datetime,
    open_transactions: int = 0,
    token_type: str | None = None,
) -> dict[str, Any]:
    """The IdTagInfo of a tag (None = unknown), per OCPP 1.6 AuthorizationStatus.

    First match wins: a 2.0.1 idToken of type NoAuthorization Accepted; unknown, or of
    another type than the tag's (`token_type`, 2.0.1 only), Invalid; revoked Blocked, past
    expiry Expired, as many open transactions as its limit ConcurrentTx (no limit, or a
    MasterPass tag: never), else Accepted; parentIdTag and expiryDate when the tag has them.
    `open_transactions` excludes the caller's own.
    """
    if token_type == NO_AUTHORIZATION:
        return {"status": AuthorizationStatus.accepted.value}
    if tag is None or (
        token_type is not None and tag.token_type is not None and token_type != tag.token_type
    ):
        return {"status": AuthorizationStatus.invalid.value}
    if tag.revoked:
        status = AuthorizationStatus.blocked
    elif _expired(tag, now):
        status = AuthorizationStatus.expired
    elif at_limit(tag, open_transactions):
        status = AuthorizationStatus.concurrent_tx
    else:
        status = AuthorizationStatus.accepted
    info: dict[str, Any] = {"status": status.value}
    if tag.parent_id_tag is not None:
        info["parentIdTag"] = tag.parent_id_tag
    elif tag.master_pass:
        # The MasterPass group's own token: its group is itself (the station compares
        # groupIdToken with its MasterPassGroupId, C16).
        info["parentIdTag"] = tag.id_token
    if tag.expiry_date is not None:
        info["expiryDate"] = format_datetime(tag.expiry_date)
    return info


def at_limit(tag: TagRecord, open_transactions: int) -> bool:
    """Whether another open transaction would exceed the tag's limit (None: unlimited;
    a MasterPass tag has none)."""
    limit = tag.max_active_transactions
    return limit is not None and not tag.master_pass and open_transactions >= limit


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
    parent = aliased(IdTag)
    columns = (
        IdTag.id_token,
        IdTag.revoked,
        IdTag.expiry_date,
        IdTag.parent_id_tag,
        IdTag.max_active_transactions,
        IdTag.token_type,
        (IdTag.master_pass | func.coalesce(parent.master_pass, false())).label("master_pass"),
    )
    base = select(*columns).outerjoin(parent, parent.id_token == IdTag.parent_id_tag)
    row = (await session.execute(base.where(IdTag.id_token == id_tag))).first()
    if row is None:
        row = (
            await session.execute(
                base.where(func.lower(IdTag.id_token) == id_tag.lower())
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
        max_active_transactions=row.max_active_transactions,
        token_type=row.token_type,
        master_pass=bool(row.master_pass),
    )


async def count_open(
    session: AsyncSession, id_tags: set[str], *, excluding: int | None = None
) -> int:
    """How many open (Active) transactions `id_tags` have, other than `excluding`."""
    query = select(func.count()).where(
        Transaction.id_tag.in_(id_tags), Transaction.status == TX_ACTIVE
    )
    if excluding is not None:
        query = query.where(Transaction.transaction_id != excluding)
    return int((await session.execute(query)).scalar_one())


async def authorize(
    session: AsyncSession,
    id_tag: str,
    *,
    now: datetime,
    excluding_transaction: int | None = None,
    concurrency: bool = True,
    token_type: str | None = None,
) -> dict[str, Any]:
    """The IdTagInfo for `id_tag` now; `excluding_transaction` is the caller's own transaction.

    `concurrency=False` leaves the tag's other transactions out (StopTransaction, Ended).
    `token_type`: the 2.0.1 idToken's type (1.6: None, any tag matches).
    """
    if token_type == NO_AUTHORIZATION:
        return decide(None, now=now, token_type=token_type)
    tag = await load_tag(session, id_tag)
    count = 0
    if (
        concurrency
        and tag is not None
        and tag.max_active_transactions is not None
        and not tag.master_pass
        and not tag.revoked
        and not _expired(tag, now)
    ):
        count = await count_open(session, {id_tag, tag.id_token}, excluding=excluding_transaction)
    return decide(tag, now=now, open_transactions=count, token_type=token_type)


def with_status(info: dict[str, Any], status: str | None) -> dict[str, Any]:
    """`info` answering `status` instead (a repeated start gets the answer of the first)."""
    return info if status is None else {**info, "status": status}
