"""The local authorization list a charge point holds (built from the id tags)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.base import Base


class LocalListEntry(Base):
    """One entry of the local list a charge point accepted (SendLocalList Accepted): the
    id tag and the idTagInfo it was sent (1.6 form: status, expiryDate, parentIdTag).

    Written by the registry's command effects (a Full update replaces the station's
    entries, a Differential one upserts / removes); the API diffs the id tags against it
    for a Differential update.
    """

    __tablename__ = "local_list_entry"

    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), primary_key=True
    )
    id_token: Mapped[str] = mapped_column(String(255), primary_key=True)
    id_token_type: Mapped[str | None] = mapped_column(String(20))
    info: Mapped[dict[str, Any]] = mapped_column(JSONB)
    list_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
