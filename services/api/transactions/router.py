"""`/transactions`, `/transactions/{id}/meter-values`, and ending one: `/stop`, `/close`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.api.commands.router import (
    COMMAND_ID_HEADER,
    MAX_TIMEOUT,
    ChargePointNotConnected,
    CommandTimeout,
    ServiceUnavailable,
    Timeout,
    gateway_failure,
    get_bus,
)
from services.api.commands.schemas import CallErrorBody, CallErrorInfo, CallErrorResponse
from services.api.common import INT32_MAX, INT32_MIN, SafeStr, UtcDateTime
from services.api.deps import CurrentUser, OperatorUser, SessionDep, SettingsDep
from services.api.errors import ErrorResponse, error_responses
from services.api.pagination import Page, PageParams, sort_param
from services.api.transactions import service
from services.api.transactions.schemas import (
    MeterValueRead,
    TransactionClose,
    TransactionRead,
    TransactionStatus,
    TransactionStopResult,
)
from shared.commands import CallError, CommandBus, NotConnected, Result, TimedOut
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
    remote_start_id: Annotated[
        int | None,
        Query(
            ge=INT32_MIN,
            le=INT32_MAX,
            description="OCPP 2.0.1: the transaction a request-start-transaction started",
        ),
    ] = None,
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
        remote_start_id=remote_start_id,
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


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


@router.post(
    "/{transaction_id}/stop",
    response_model=TransactionStopResult,
    responses={
        400: _error("Malformed request"),
        401: _error("Missing or invalid credentials"),
        403: _error("Operators and admins only"),
        404: _error("Unknown transaction"),
        409: _error("Stopped already (`not_open`), or the charge point is not connected"),
        422: _error("Invalid path or query"),
        502: {"model": CallErrorResponse, "description": "The charge point answered a CALLERROR"},
        503: _error("The message broker is not available"),
        504: _error("The charge point did not answer in time"),
    },
)
async def stop_transaction(
    principal: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    transaction_id: TransactionId,
    timeout: Timeout = None,
) -> Response:
    """Ask the charge point to stop the transaction (OCPP 1.6 RemoteStopTransaction, 2.0.1
    RequestStopTransaction), through the command log. `status` Accepted means the charge point
    will stop it: the transaction ends when its StopTransaction / TransactionEvent Ended
    arrives. A charge point that is not connected: 409 (settle it with `/close` instead)."""
    tx = await service.stoppable(
        session=session, principal=principal, transaction_id=transaction_id
    )
    action, sent = await service.stop_transaction(
        session=session,
        principal=principal,
        tx=tx,
        bus=get_bus(request),
        timeout=min(timeout or settings.command_timeout, MAX_TIMEOUT),
    )
    headers = {COMMAND_ID_HEADER: str(sent.command_id)}
    outcome = sent.outcome
    if isinstance(outcome, Result):
        result = TransactionStopResult(
            command_id=sent.command_id, action=action, status=str(outcome.payload.get("status"))
        )
        return JSONResponse(result.model_dump(mode="json"), headers=headers)
    failure = gateway_failure(outcome, chargepoint_id=tx.chargepoint_id, action=action)
    if failure is not None:
        failure.headers = headers
        raise failure
    if isinstance(outcome, CallError):
        answer = CallErrorResponse(
            error=CallErrorBody(
                code="call_error",
                message=f"the charge point answered {outcome.code}",
                call_error=CallErrorInfo(
                    code=outcome.code, description=outcome.description, details=outcome.details
                ),
            )
        )
        return JSONResponse(answer.model_dump(mode="json"), status_code=502, headers=headers)
    error: ChargePointNotConnected | CommandTimeout | ServiceUnavailable
    if isinstance(outcome, NotConnected):
        error = ChargePointNotConnected(
            f"the charge point of transaction {transaction_id} is not connected"
        )
    elif isinstance(outcome, TimedOut):
        error = CommandTimeout(f"no answer to {action} in time")
    else:
        error = ServiceUnavailable("the message broker is not available")
    error.headers = headers
    raise error


@router.post(
    "/{transaction_id}/close",
    response_model=TransactionRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def close_transaction(
    principal: OperatorUser,
    session: SessionDep,
    request: Request,
    transaction_id: TransactionId,
    body: TransactionClose,
) -> TransactionRead:
    """Settle an open transaction the charge point will not report (reason Administrative,
    `closed_by` = you, `close_note` = `reason`), with the meter value to bill (default: the
    last reading). 409 when it is not open. A stop the charge point reports later replaces
    these values (`corrected_at`, the settlement kept in `estimated_*`)."""
    bus: CommandBus | None = getattr(request.app.state, "bus", None)
    tx = await service.close_transaction(
        session=session,
        principal=principal,
        transaction_id=transaction_id,
        data=body,
        bus=bus,
    )
    return to_read(tx)
