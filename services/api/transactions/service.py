"""Transactions and meter values; drivers see the sessions of their own id tags.

Operators can also end a transaction: `stop` asks the charge point (RemoteStopTransaction /
2.0.1 RequestStopTransaction, through the command log like every command), `close` settles
one administratively when the charge point will never report it (reason Administrative,
`closed_by` = who did it; a stop the charge point reports later corrects it).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.commands import service as commands
from services.api.deps import Principal
from services.api.errors import ApiError, NotFound, Unprocessable
from services.api.pagination import PageParams, paginate
from services.api.transactions.schemas import TransactionClose
from shared.bus.topology import EVENTS
from shared.commands import CommandBus
from shared.db.enums import TX_ACTIVE, TX_COMPLETED
from shared.db.models import IdTag, MeterValue, Transaction
from shared.envelope import event
from shared.events.staging import stage_public_events
from shared.ocpp import OCPP16, OCPP201
from shared.txevents import TRANSACTION_STOPPED, stopped_payload

log = logging.getLogger(__name__)

ADMINISTRATIVE = "Administrative"

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


def energy_wh(tx: Transaction) -> Decimal:
    """Energy delivered (Wh, exact): stop (or last) meter reading minus the start reading."""
    end = tx.wh_meter_stop if tx.wh_meter_stop is not None else tx.wh_meter_last
    return max(Decimal(0), Decimal(end) - Decimal(tx.wh_meter_start))


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
    remote_start_id: int | None = None,
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
    if remote_start_id is not None:
        stmt = stmt.where(Transaction.remote_start_id == remote_start_id)
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


class NotOpen(ApiError):
    """409: the transaction is not open (stopped, closed or rejected)."""

    status_code = 409
    code = "not_open"


async def close_transaction(
    *,
    session: AsyncSession,
    principal: Principal,
    transaction_id: int,
    data: TransactionClose,
    bus: CommandBus | None,
    now: datetime | None = None,
) -> Transaction:
    """Settle an open transaction: Completed, reason Administrative, `closed_by` = the caller.

    The row is locked (one row: no lock-order concerns, services/transactions/locks.py). The
    meter value defaults to the last reading, the time to now; neither may precede the start.
    A `transaction.stopped` event (closed_by operator) follows the commit when the broker is
    up (billing and load balancing); the close stands without it.
    """
    tx = await session.scalar(
        select(Transaction)
        .where(Transaction.transaction_id == transaction_id)
        .with_for_update(key_share=True)
    )
    if tx is None:
        raise NotFound("transaction", transaction_id)
    if tx.status != TX_ACTIVE:
        raise NotOpen(f"transaction {transaction_id} is not open (status {tx.status})")
    meter_stop = data.meter_stop if data.meter_stop is not None else tx.wh_meter_last
    stopped_at = data.stopped_at or now or datetime.now(UTC)
    if meter_stop < tx.wh_meter_start:
        raise Unprocessable("body.meter_stop", f"below the meter start {tx.wh_meter_start} Wh")
    if stopped_at < tx.start_transaction_timestamp:
        raise Unprocessable("body.stopped_at", "before the transaction started")
    tx.status = TX_COMPLETED
    tx.reason_stopped = ADMINISTRATIVE
    tx.closed_by = principal.label[:320]
    tx.close_note = data.reason
    tx.wh_meter_stop = meter_stop
    tx.stop_transaction_timestamp = stopped_at
    payload = stopped_payload(
        transaction_id=tx.transaction_id,
        remote_transaction_id=tx.remote_transaction_id,
        connector_id=tx.connectorid,
        meter_start=tx.wh_meter_start,
        meter_stop=tx.wh_meter_stop,
        reason=tx.reason_stopped,
        timestamp=tx.stop_transaction_timestamp,
        outcome="closed",
        closed_by="operator",
    )
    stopped = event(TRANSACTION_STOPPED, payload, tx.chargepoint_id)
    await session.flush()
    await stage_public_events(session, [stopped], settings=None)
    await session.commit()
    await session.refresh(tx)
    log.warning(
        "transaction %s closed by %s: %s",
        transaction_id,
        tx.closed_by,
        data.reason,
        extra={"transaction_id": transaction_id},
    )
    if bus is not None:
        try:
            await bus.publish(EVENTS, TRANSACTION_STOPPED, stopped)
        except Exception as exc:  # noqa: BLE001 - the close is committed
            log.error("transaction.stopped of %s not published: %r", transaction_id, exc)
    return tx


def stop_command(tx: Transaction) -> tuple[str, dict[str, object]]:
    """The command that stops `tx` on its charge point: 1.6 RemoteStopTransaction (our id) or
    2.0.1 RequestStopTransaction (the station's transactionId)."""
    if tx.remote_transaction_id is not None:
        return "RequestStopTransaction", {"transactionId": tx.remote_transaction_id}
    return "RemoteStopTransaction", {"transactionId": tx.transaction_id}


async def stoppable(
    *, session: AsyncSession, principal: Principal, transaction_id: int
) -> Transaction:
    """The transaction to stop; 404 unknown, 409 when it is stopped already."""
    tx = await get_transaction(session=session, principal=principal, transaction_id=transaction_id)
    if tx.stop_transaction_timestamp is not None or tx.status == TX_COMPLETED:
        raise NotOpen(f"transaction {transaction_id} is stopped already")
    return tx


async def stop_transaction(
    *,
    session: AsyncSession,
    principal: Principal,
    tx: Transaction,
    bus: CommandBus,
    timeout: float,
) -> tuple[str, commands.Sent]:
    """Ask the charge point to stop `tx`; the action sent and how it ended.

    The charge point's answer only says whether it will stop; the transaction ends when its
    StopTransaction / Ended comes. A Rejected transaction not stopped yet (its charge point may
    go on) can be stopped too.
    """
    action, payload = stop_command(tx)
    version = OCPP201 if tx.remote_transaction_id is not None else OCPP16
    chargepoint_id = tx.chargepoint_id
    await session.commit()  # no transaction held while the charge point is waited for
    sent = await commands.send(
        session=session,
        bus=bus,
        principal=principal,
        chargepoint_id=chargepoint_id,
        action=action,
        payload=payload,
        timeout=timeout,
        ocpp_version=version,
    )
    return action, sent
