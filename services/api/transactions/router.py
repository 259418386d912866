"""`/transactions` and `/transactions/{id}/meter-values`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.api.common import INT32_MAX, SafeStr, UtcDateTime
from services.api.deps import CurrentUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import Page, PageParams, sort_param
from services.api.transactions import service
from services.api.transactions.schemas import MeterValueRead, TransactionRead, TransactionStatus
from shared.db.models import Transaction

router = APIRouter(prefix="/transactions", tags=["transactions"])

TransactionPage = Annotated[
    PageParams, Depends(sort_param(service.SORT_FIELDS, "-start_transaction_timestamp"))
]
MeterPage = Annotated[PageParams, Depends(sort_param(service.METER_SORT_FIELDS, "timestamp"))]
TransactionId = Annotated[int, Path(ge=1, le=INT32_MAX)]


def to_read(tx: Transaction) -> TransactionRead:
    """The API view of a transaction with energy and duration."""
    data = {name: getattr(tx, name, None) for name in TransactionRead.model_fields}
    data["energy_wh"] = service.energy_wh(tx)
    data["duration_seconds"] = service.duration_seconds(tx)
    return TransactionRead.model_validate(data)


@router.get("", response_model=Page[TransactionRead], responses=error_responses(401, 422))
async def list_transactions(
    principal: CurrentUser,
    session: SessionDep,
    page: TransactionPage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    connectorid: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    id_tag: Annotated[SafeStr | None, Query(max_length=255)] = None,
    user_id: uuid.UUID | None = None,
    status: TransactionStatus | None = None,
    started_after: Annotated[UtcDateTime | None, Query(description="inclusive")] = None,
    started_before: Annotated[UtcDateTime | None, Query(description="exclusive")] = None,
) -> Page[TransactionRead]:
    """Transactions (a driver sees those of their own id tags)."""
    rows, total = await service.list_transactions(
        session=session,
        principal=principal,
        params=page,
        chargepoint_id=chargepoint_id,
        connectorid=connectorid,
        id_tag=id_tag,
        user_id=user_id,
        status=status,
        started_after=started_after,
        started_before=started_before,
    )
    return Page[TransactionRead](
        items=[to_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{transaction_id}", response_model=TransactionRead, responses=error_responses(401, 404, 422)
)
async def read_transaction(
    principal: CurrentUser, session: SessionDep, transaction_id: TransactionId
) -> TransactionRead:
    """One transaction with energy (Wh) and duration (s)."""
    tx = await service.get_transaction(
        session=session, principal=principal, transaction_id=transaction_id
    )
    return to_read(tx)


@router.get(
    "/{transaction_id}/meter-values",
    response_model=Page[MeterValueRead],
    responses=error_responses(401, 404, 422),
)
async def list_meter_values(
    principal: CurrentUser,
    session: SessionDep,
    transaction_id: TransactionId,
    page: MeterPage,
    measurand: Annotated[SafeStr | None, Query(max_length=64)] = None,
    after: Annotated[UtcDateTime | None, Query(description="inclusive")] = None,
    before: Annotated[UtcDateTime | None, Query(description="exclusive")] = None,
) -> Page[MeterValueRead]:
    """The meter values of a transaction, in time order by default."""
    rows, total = await service.list_meter_values(
        session=session,
        principal=principal,
        transaction_id=transaction_id,
        params=page,
        measurand=measurand,
        after=after,
        before=before,
    )
    return Page[MeterValueRead](
        items=[MeterValueRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
