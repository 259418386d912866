"""Security events: what charge points report (SecurityEventNotification) and what the CSMS
records about them (connections refused below their security profile, profile upgrades)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import enums
from shared.db.base import Base, enum_check


class SecurityEvent(Base):
    """One security event of a charge point; `chargepoint_id` has no foreign key (unknown
    ids are recorded too)."""

    __tablename__ = "security_event"
    __table_args__ = (
        # A redelivered SecurityEventNotification carries the same correlation id: one row.
        UniqueConstraint("message_id"),
        Index(None, "chargepoint_id", "occurred_at"),
        # The API listing's order and keyset (occurred_at, id).
        Index(None, "occurred_at", "id"),
        enum_check("source", enums.SECURITY_EVENT_SOURCES),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(11))
    # 2.0.1 Appendix 1 security event types (1.6 whitepaper: the same list), max 50 chars.
    type: Mapped[str] = mapped_column(String(50))
    tech_info: Mapped[str | None] = mapped_column(Text)
    remote_ip: Mapped[str | None] = mapped_column(String(45))
    # The envelope's correlation id of a SecurityEventNotification (NULL for the CSMS's own).
    message_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
