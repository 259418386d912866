"""Site load balancing: what the charging service decided and what each session holds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, ForeignKey, Identity, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import enums
from shared.db.base import Base, enum_check


class BalancingDecision(Base):
    """One recomputation of a location's limits: its inputs, the allocations, what was sent.

    `allocations`: `[{transaction_id, chargepoint_id, connectorid, limit, paused}]`;
    `sent`: `[{transaction_id, chargepoint_id, connectorid, limit, outcome, status}]`, only
    the sessions whose limit changed; `outcome` is "sending" from the decision until the
    answers are recorded (services/charging/sending.py). Written by the charging service only.
    """

    __tablename__ = "balancing_decision"
    __table_args__ = (
        Index(None, "location_uuid", "computed_at"),
        Index(None, "computed_at", "id"),  # listing order and keyset
        enum_check("unit", enums.GRID_LIMIT_UNITS),
        enum_check("strategy", enums.BALANCING_STRATEGIES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    location_uuid: Mapped[UUID] = mapped_column(ForeignKey("location.uuid", ondelete="CASCADE"))
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    trigger: Mapped[str] = mapped_column(String(64))
    chargepoint_id: Mapped[str | None] = mapped_column(String(255))
    grid_limit: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(1))
    strategy: Mapped[str] = mapped_column(String(20))
    allocations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    sent: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class BalancingAllocation(Base):
    """The current limit of one active transaction at a balanced location.

    `limit` is what the balancer last decided; `installed_limit` what the charge point last
    accepted (NULL: unknown, e.g. it went offline), so only changes are sent. The row goes
    when the transaction stops.
    """

    __tablename__ = "balancing_allocation"
    __table_args__ = (enum_check("status", enums.PROFILE_INSTALLATION_STATUSES),)

    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("transaction.transaction_id", ondelete="CASCADE"), primary_key=True
    )
    location_uuid: Mapped[UUID] = mapped_column(
        ForeignKey("location.uuid", ondelete="CASCADE"), index=True
    )
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    connectorid: Mapped[int] = mapped_column(Integer)
    limit: Mapped[Decimal]
    paused: Mapped[bool] = mapped_column(Boolean)
    installed_limit: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(10), default="Pending", server_default="Pending")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
