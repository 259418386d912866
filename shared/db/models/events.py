"""Public events (docs/events.md): the event outbox, its sequences, webhooks and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.base import ischema_names as pg_ischema_names
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from shared.db.base import Base, TimestampMixin, enum_check

DELIVERY_STATUSES = ("pending", "delivered", "dead")


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (`pg_current_xact_id()`)."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "XID8"


# Reflection (Alembic's comparison of the models with the database) knows the type by name.
pg_ischema_names["xid8"] = Xid8


class EventOutbox(Base):
    """One public event, written in the transaction of the change it reports.

    `position` numbers every event; `txid` is the writing transaction, so a reader can take
    events in a gapless order (txid, position) up to the oldest transaction still running
    (shared/events/store.py). `seq` counts the events of one charge point (of the system for
    events without one: key ''), in commit order. `published_at`: relayed to `csms.events`.
    """

    __tablename__ = "event_outbox"
    __table_args__ = (
        Index(None, "txid", "position"),
        Index(None, "created_at"),
        Index(
            "ix_event_outbox_unpublished",
            "created_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    position: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    id: Mapped[UUID] = mapped_column(unique=True)
    txid: Mapped[int] = mapped_column(Xid8(), server_default=func.pg_current_xact_id())
    type: Mapped[str] = mapped_column(String(64))
    chargepoint_id: Mapped[str | None] = mapped_column(String(255))
    location_id: Mapped[UUID | None]
    id_tag: Mapped[str | None] = mapped_column(String(255))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EventSequence(Base):
    """The last `seq` given per charge point ('' for events of no charge point)."""

    __tablename__ = "event_sequence"

    chargepoint_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EventThrottle(Base):
    """When a throttled event (transaction.updated, meter_values) was last written, per key."""

    __tablename__ = "event_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    last_at: Mapped[datetime]


class WebhookEndpoint(TimestampMixin, Base):
    """A third-party URL that receives the events it subscribed to, signed with `secret`."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    location_ids: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    chargepoint_ids: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    failure_streak: Mapped[int] = mapped_column(Integer, server_default="0")
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(255))


class WebhookDelivery(Base):
    """One event for one endpoint: its attempts so far and how the last one went.

    `lane` (the charge point id, '' for none) orders deliveries: an endpoint gets the events
    of one charge point in `seq` order, each after the one before was delivered or dead.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(None, "endpoint_id", "created_at"),
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_webhook_delivery_lane",
            "endpoint_id",
            "lane",
            "seq",
            postgresql_where=text("status = 'pending'"),
        ),
        enum_check("status", DELIVERY_STATUSES),
    )

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    event_id: Mapped[UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(255))
    seq: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    lease_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_latency_ms: Mapped[float | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WebhookDeadLetter(Base):
    """A delivery that stayed undelivered through its whole retry window: the endpoint's
    dead-letter queue, kept apart from the delivery log (which is pruned after the event
    retention) until an operator replays it or CSMS_WEBHOOKS_DEAD_LETTER_RETENTION_DAYS pass.

    One row per endpoint and event: a replayed event that dies again is queued again.
    """

    __tablename__ = "webhook_dead_letter"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(None, "endpoint_id", "dead_at"),
    )

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    endpoint_id: Mapped[UUID] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    delivery_id: Mapped[UUID]
    """The delivery log row that died (may be pruned since)."""
    event_id: Mapped[UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(255))
    seq: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[dict[str, Any]]
    attempts: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime] = mapped_column(server_default=func.now())
    replayed_at: Mapped[datetime | None]
    replay_count: Mapped[int] = mapped_column(Integer, server_default="0")
