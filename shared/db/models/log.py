"""Records of traffic: the OCPP message log, commands sent, data transfers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    BigInteger,
    Identity,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import enums
from shared.db.base import Base, enum_check


class OcppMessage(Base):
    """One OCPP-J frame, in or out; `chargepoint_id` has no foreign key (unknown ids too)."""

    __tablename__ = "ocpp_message"
    __table_args__ = (
        # Idempotent log writes: a redelivered envelope carries the same correlation id.
        UniqueConstraint("message_id", "direction", "message_type"),
        Index(None, "chargepoint_id", "created_at"),
        # The log listing's order and keyset (created_at, id), and `csms prune` by time.
        Index(None, "created_at", "id"),
        enum_check("direction", enums.DIRECTIONS),
        enum_check("message_type", enums.MESSAGE_TYPES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(3))
    message_type: Mapped[int] = mapped_column(SmallInteger)
    action: Mapped[str | None] = mapped_column(String(64))
    unique_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_description: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CommandLog(Base):
    """A command sent to a charge point and how it ended; `id` is the correlation id.

    The outbox of command effects (docs/commands.md): `seq` numbers the completed commands
    of one charge point in commit order (NULL while pending, and for rows completed before
    migration 0006); effect consumers apply them in `seq` order.
    """

    __tablename__ = "command_log"
    __table_args__ = (
        Index(None, "chargepoint_id", "created_at"),
        Index(None, "created_at", "id"),
        enum_check("outcome", enums.COMMAND_OUTCOMES),
        enum_check("ocpp_version", enums.OCPP_VERSIONS),
        UniqueConstraint("chargepoint_id", "seq"),
        # The sweeper's look-up of abandoned pending rows.
        Index("ix_command_log_pending", "created_at", postgresql_where=text("outcome = 'pending'")),
    )

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]]
    outcome: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    response: Mapped[dict[str, Any] | None]
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_description: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    """When the sender stops waiting for the answer (created + timeout + margin): a row still
    pending well after it was abandoned by its API process (the sweeper marks it `lost`)."""
    seq: Mapped[int | None] = mapped_column(BigInteger)
    ocpp_version: Mapped[str | None] = mapped_column(String(9))
    """The OCPP version the request was built for (NULL: 1.6, rows before migration 0010)."""


class CommandSequence(Base):
    """The last `command_log.seq` given per charge point. Taking the next one locks this row
    until commit, so the completions of one charge point commit in `seq` order."""

    __tablename__ = "command_sequence"

    chargepoint_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CommandEffectCursor(Base):
    """How far one effect consumer (registry, transactions, charging) has applied the
    completed commands of one charge point (`command_log.seq`)."""

    __tablename__ = "command_effect_cursor"

    consumer: Mapped[str] = mapped_column(String(32), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    applied_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DataTransfer(Base):
    """A DataTransfer in either direction (vendor-specific data, kept verbatim)."""

    __tablename__ = "data_transfer"
    __table_args__ = (
        Index(None, "chargepoint_id", "received_at"),
        Index(None, "received_at"),  # `csms prune`
        enum_check("direction", enums.DIRECTIONS),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    vendor_id: Mapped[str] = mapped_column(String(255))
    data_message_id: Mapped[str | None] = mapped_column(String(50))
    data: Mapped[str | None] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
