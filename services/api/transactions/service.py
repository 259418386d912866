"""Transactions and meter values (read); drivers see the sessions of their own id tags."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.deps import Principal
from services.api.errors import NotFound
from services.api.pagination import PageParams, paginate
from shared.db.models import IdTag, MeterValue, Transaction

SORT_FIELDS = ("transaction_id", "start_transaction_timestamp", "stop_transaction_timestamp")
_COLUMNS = {
    "transaction_id": Transaction.transaction_id,
    "start_transaction_timestamp": Transaction.start_transaction_timestamp,
    "stop_transaction_timestamp": Transaction.stop_transaction_timestamp,
}
METER_SORT_FIELDS = ("timestamp", "measurand")
_METER_COLUMNS = {"timestamp": MeterValue.timestamp, "measurand": MeterValue.measurand}


def tags_of(user_id: uuid.UUID | None) -> Select[str]:
    """The tokens of a user's id tags (a subquery)."""
    return select(IdTag.id_token).where(IdTag.user_id == user_id)


def visible(stmt: Select[Transaction], principal: Principal) -> Select[Transaction]:
    """Restrict to the transactions the caller may see (a driver: their id tags')."""
    if principal.is_driver:
        return stmt.where(Transaction.id_tag.in_(tags_of(principal.user_id)))
    return stmt


def energy_wh(tx: Transaction) -> int:
    """Energy delivered: stop (or last) meter reading minus the start reading."""
    end = tx.wh_meter_stop if tx.wh_meter_stop is not None else tx.wh_meter_last
    return max(0, end - tx.wh_meter_start)


def duration_seconds(tx: Transaction, now: datetime | None = None) -> int:
    """Seconds from start to stop (to now while active)."""
    end = tx.stop_transaction_timestamp or now or datetime.now(UTC)
    return max(0, int((end - tx.start_transaction_timestamp).total_seconds()))


async def list_transactions(
    *,
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    chargepoint_id: str | None = None,
    connectorid: int | None = None,
    id_tag: str | None = None,
    user_id: uuid.UUID | None = None,
    status: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> tuple[list[Transaction], int]:
    """Transactions matching the filters (time range on the start timestamp)."""
    stmt = visible(select(Transaction), principal)
    if chargepoint_id is not None:
        stmt = stmt.where(Transaction.chargepoint_id == chargepoint_id)
    if connectorid is not None:
        stmt = stmt.where(Transaction.connectorid == connectorid)
    if id_tag is not None:
        stmt = stmt.where(Transaction.id_tag == id_tag)
    if user_id is not None:
        stmt = stmt.where(Transaction.id_tag.in_(tags_of(user_id)))
    if status is not None:
        stmt = stmt.where(Transaction.status == status)
    if started_after is not None:
        stmt = stmt.where(Transaction.start_transaction_timestamp >= started_after)
    if started_before is not None:
        stmt = stmt.where(Transaction.start_transaction_timestamp < started_before)
    return await paginate(
        session, stmt, params=params, columns=_COLUMNS, tiebreak=Transaction.transaction_id
    )


async def get_transaction(
    *, session: AsyncSession, principal: Principal, transaction_id: int
) -> Transaction:
    """The transaction, or NotFound (also for another driver's)."""
    stmt = visible(
        select(Transaction).where(Transaction.transaction_id == transaction_id), principal
    )
    tx = await session.scalar(stmt)
    if tx is None:
        raise NotFound("transaction", transaction_id)
    return tx


async def list_meter_values(
    *,
    session: AsyncSession,
    principal: Principal,
    transaction_id: int,
    params: PageParams,
    measurand: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> tuple[list[MeterValue], int]:
    """The meter values of a visible transaction."""
    await get_transaction(session=session, principal=principal, transaction_id=transaction_id)
    stmt = select(MeterValue).where(MeterValue.transaction_id == transaction_id)
    if measurand is not None:
        stmt = stmt.where(MeterValue.measurand == measurand)
    if after is not None:
        stmt = stmt.where(MeterValue.timestamp >= after)
    if before is not None:
        stmt = stmt.where(MeterValue.timestamp < before)
    return await paginate(
        session, stmt, params=params, columns=_METER_COLUMNS, tiebreak=MeterValue.id
    )
