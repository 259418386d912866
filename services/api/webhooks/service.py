"""Webhook endpoints: create (secret once), list, change, delete; deliveries, redelivery;
the dead-letter queue and its replay."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.errors import NotFound, Unprocessable
from services.api.webhooks.schemas import WebhookCreate, WebhookUpdate
from services.webhooks.signing import new_secret
from shared.db.models import WebhookDeadLetter, WebhookDelivery, WebhookEndpoint
from shared.settings import Settings
from shared.ssrf import TargetRefused, check_target


async def _check_url(url: str, settings: Settings) -> None:
    try:
        await check_target(url, allow_private=settings.webhooks_allow_private_targets)
    except TargetRefused as exc:
        raise Unprocessable("body.url", str(exc)) from None


async def create(
    *, session: AsyncSession, settings: Settings, data: WebhookCreate, created_by: str
) -> WebhookEndpoint:
    """Store a new endpoint with a fresh secret."""
    await _check_url(data.url, settings)
    endpoint = WebhookEndpoint(
        url=data.url,
        description=data.description,
        event_types=list(data.event_types),
        location_ids=[str(x) for x in data.location_ids],
        chargepoint_ids=list(data.chargepoint_ids),
        active=data.active,
        secret=new_secret(),
        created_by=created_by[:255],
    )
    session.add(endpoint)
    await session.commit()
    await session.refresh(endpoint)
    return endpoint


async def get(*, session: AsyncSession, webhook_id: uuid.UUID) -> WebhookEndpoint:
    """One endpoint; 404 when unknown."""
    endpoint = await session.get(WebhookEndpoint, webhook_id)
    if endpoint is None:
        raise NotFound("webhook", webhook_id)
    return endpoint


async def list_all(
    *, session: AsyncSession, limit: int, offset: int
) -> tuple[list[WebhookEndpoint], int]:
    """Endpoints, oldest first."""
    total = int(await session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)
    rows = (
        await session.scalars(
            select(WebhookEndpoint)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), total


async def change(
    *, session: AsyncSession, settings: Settings, webhook_id: uuid.UUID, data: WebhookUpdate
) -> WebhookEndpoint:
    """Apply changes; re-enabling resets the failure streak."""
    endpoint = await get(session=session, webhook_id=webhook_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for name in ("url", "event_types", "active"):
        if name in changes and changes[name] is None:
            raise Unprocessable(f"body.{name}", f"{name} cannot be null")
    if "url" in changes:
        await _check_url(changes["url"], settings)
    if "location_ids" in changes:
        changes["location_ids"] = [str(x) for x in changes["location_ids"] or []]
    if "chargepoint_ids" in changes:
        changes["chargepoint_ids"] = list(changes["chargepoint_ids"] or [])
    if changes.get("active") is True and not endpoint.active:
        changes.update(failure_streak=0, disabled_at=None, disabled_reason=None)
    for key, value in changes.items():
        setattr(endpoint, key, value)
    await session.commit()
    await session.refresh(endpoint)
    return endpoint


async def remove(*, session: AsyncSession, webhook_id: uuid.UUID) -> None:
    """Delete an endpoint and its delivery log."""
    endpoint = await get(session=session, webhook_id=webhook_id)
    await session.delete(endpoint)
    await session.commit()


async def deliveries(
    *,
    session: AsyncSession,
    webhook_id: uuid.UUID,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookDelivery], int]:
    """An endpoint's deliveries, newest first."""
    await get(session=session, webhook_id=webhook_id)
    where = [WebhookDelivery.endpoint_id == webhook_id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    total = int(
        await session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0
    )
    rows = (
        await session.scalars(
            select(WebhookDelivery)
            .where(*where)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), total


async def redeliver(
    *, session: AsyncSession, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """Send a delivery again (pending now, whatever its state); the same event id."""
    await get(session=session, webhook_id=webhook_id)
    d = WebhookDelivery
    event_id = await session.scalar(
        update(d)
        .where(d.id == delivery_id, d.endpoint_id == webhook_id)
        .values(
            status="pending", next_attempt_at=func.now(), lease_until=None, created_at=func.now()
        )
        .returning(d.event_id)
    )
    if event_id is None:
        raise NotFound("delivery", delivery_id)
    q = WebhookDeadLetter
    await session.execute(  # a dead one leaves the dead-letter queue
        update(q)
        .where(q.endpoint_id == webhook_id, q.event_id == event_id, q.replayed_at.is_(None))
        .values(replayed_at=func.now(), replay_count=q.replay_count + 1)
    )
    await session.commit()
    delivery = await session.get(WebhookDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    return delivery


async def dead_letters(
    *,
    session: AsyncSession,
    webhook_id: uuid.UUID,
    replayed: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookDeadLetter], int]:
    """An endpoint's dead letters, newest first (`replayed` False: those still waiting)."""
    await get(session=session, webhook_id=webhook_id)
    q = WebhookDeadLetter
    where = [q.endpoint_id == webhook_id]
    if replayed is not None:
        where.append(q.replayed_at.is_not(None) if replayed else q.replayed_at.is_(None))
    total = int(await session.scalar(select(func.count()).select_from(q).where(*where)) or 0)
    rows = (
        await session.scalars(
            select(q)
            .where(*where)
            .order_by(q.dead_at.desc(), q.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return list(rows), total


async def replay(
    *, session: AsyncSession, webhook_id: uuid.UUID, ids: list[uuid.UUID] | None
) -> list[uuid.UUID]:
    """Put dead letters back in the delivery queue (the given ones, or every waiting one):
    their delivery is pending again now, with the same event id and a new retry window (a
    delivery log row pruned since is written again); the ids of those replayed."""
    await get(session=session, webhook_id=webhook_id)
    q = WebhookDeadLetter
    where = [q.endpoint_id == webhook_id]
    where.append(q.replayed_at.is_(None) if ids is None else q.id.in_(ids))
    marked = list(
        (
            await session.execute(
                update(q)
                .where(*where)
                .values(replayed_at=func.now(), replay_count=q.replay_count + 1)
                .returning(q.id)
            )
        ).scalars()
    )
    if not marked:
        return []
    d = WebhookDelivery
    columns = ["endpoint_id", "event_id", "event_type", "lane", "seq", "body", "attempts"]
    source = select(
        q.endpoint_id, q.event_id, q.event_type, q.lane, q.seq, q.body, q.attempts
    ).where(q.id.in_(marked))
    stmt = pg_insert(d).from_select(columns, source)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["endpoint_id", "event_id"],
            set_={
                "status": "pending",
                "next_attempt_at": func.now(),
                "lease_until": None,
                "created_at": func.now(),
            },
            # One in flight or waiting for its retry is left alone (it is being sent).
            where=d.status != "pending",
        )
    )
    await session.commit()
    return marked


async def get_dead_letter(
    *, session: AsyncSession, webhook_id: uuid.UUID, dead_letter_id: uuid.UUID
) -> WebhookDeadLetter:
    """One dead letter of the endpoint; 404 when unknown."""
    found = await session.get(WebhookDeadLetter, dead_letter_id, populate_existing=True)
    if found is None or found.endpoint_id != webhook_id:
        raise NotFound("dead letter", dead_letter_id)
    return found
