"""`/webhooks`: admins and operators subscribe URLs to public events (docs/events.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from services.api.deps import OperatorUser, SessionDep, SettingsDep
from services.api.errors import NotFound, error_responses
from services.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from services.api.webhooks import service
from services.api.webhooks.schemas import (
    DeadLetterRead,
    DeadLetterReplay,
    DeadLetterReplayed,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=2_000_000_000, description="Items to skip.")]


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 422),
)
async def create_webhook(
    principal: OperatorUser, session: SessionDep, settings: SettingsDep, body: WebhookCreate
) -> WebhookCreated:
    """Subscribe a URL; the answer holds the signing secret, shown this once."""
    endpoint = await service.create(
        session=session, settings=settings, data=body, created_by=principal.label
    )
    return WebhookCreated.model_validate(endpoint)


@router.get("", response_model=Page[WebhookRead], responses=error_responses(401, 403, 422))
async def list_webhooks(
    _: OperatorUser, session: SessionDep, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> Page[WebhookRead]:
    """Webhook endpoints, oldest first."""
    rows, total = await service.list_all(session=session, limit=limit, offset=offset)
    return Page[WebhookRead](
        items=[WebhookRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/{webhook_id}", response_model=WebhookRead, responses=error_responses(401, 403, 404, 422)
)
async def read_webhook(_: OperatorUser, session: SessionDep, webhook_id: uuid.UUID) -> WebhookRead:
    """One endpoint (without its secret)."""
    return WebhookRead.model_validate(await service.get(session=session, webhook_id=webhook_id))


@router.patch(
    "/{webhook_id}", response_model=WebhookRead, responses=error_responses(401, 403, 404, 422)
)
async def update_webhook(
    _: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
) -> WebhookRead:
    """Change an endpoint; `active: true` re-enables a disabled one."""
    endpoint = await service.change(
        session=session, settings=settings, webhook_id=webhook_id, data=body
    )
    return WebhookRead.model_validate(endpoint)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_webhook(_: OperatorUser, session: SessionDep, webhook_id: uuid.UUID) -> Response:
    """Delete an endpoint and its delivery log."""
    await service.remove(session=session, webhook_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    responses=error_responses(401, 403, 404, 422),
)
async def list_deliveries(
    _: OperatorUser,
    session: SessionDep,
    webhook_id: uuid.UUID,
    status: Literal["pending", "delivered", "dead"] | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[DeliveryRead]:
    """The endpoint's delivery log, newest first: status code, latency, attempts, error."""
    rows, total = await service.deliveries(
        session=session, webhook_id=webhook_id, status=status, limit=limit, offset=offset
    )
    return Page[DeliveryRead](
        items=[DeliveryRead.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 404, 422),
)
async def redeliver(
    _: OperatorUser, session: SessionDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryRead:
    """Send a delivery again (same event id), a dead one too; its retry window restarts."""
    delivery = await service.redeliver(
        session=session, webhook_id=webhook_id, delivery_id=delivery_id
    )
    return DeliveryRead.model_validate(delivery)


@router.get(
    "/{webhook_id}/dead-letters",
    response_model=Page[DeadLetterRead],
    responses=error_responses(401, 403, 404, 422),
)
async def list_dead_letters(
    _: OperatorUser,
    session: SessionDep,
    webhook_id: uuid.UUID,
    replayed: Annotated[
        bool | None,
        Query(description="false: the queue (still waiting); true: replayed; omitted: both."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[DeadLetterRead]:
    """The endpoint's dead-letter queue, newest first: deliveries given up after their retry
    window (CSMS_WEBHOOKS_RETRY_WINDOW_HOURS), kept until replayed."""
    rows, total = await service.dead_letters(
        session=session, webhook_id=webhook_id, replayed=replayed, limit=limit, offset=offset
    )
    return Page[DeadLetterRead](
        items=[DeadLetterRead.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/{webhook_id}/dead-letters/replay",
    response_model=DeadLetterReplayed,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 404, 422),
)
async def replay_dead_letters(
    _: OperatorUser,
    session: SessionDep,
    webhook_id: uuid.UUID,
    body: DeadLetterReplay | None = None,
) -> DeadLetterReplayed:
    """Replay dead letters in bulk (the given ids, or every waiting one): each is delivered
    again with the same event id, in order per charge point, with a new retry window."""
    ids = body.ids if body is not None else None
    replayed = await service.replay(session=session, webhook_id=webhook_id, ids=ids)
    return DeadLetterReplayed(replayed=len(replayed))


@router.post(
    "/{webhook_id}/dead-letters/{dead_letter_id}/replay",
    response_model=DeadLetterRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 404, 422),
)
async def replay_dead_letter(
    _: OperatorUser, session: SessionDep, webhook_id: uuid.UUID, dead_letter_id: uuid.UUID
) -> DeadLetterRead:
    """Replay one dead letter (a replayed one again too): delivered again, same event id."""
    replayed = await service.replay(session=session, webhook_id=webhook_id, ids=[dead_letter_id])
    if not replayed:
        raise NotFound("dead letter", dead_letter_id)
    letter = await service.get_dead_letter(
        session=session, webhook_id=webhook_id, dead_letter_id=dead_letter_id
    )
    return DeadLetterRead.model_validate(letter)
