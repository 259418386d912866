"""The declarative base: one MetaData with a naming convention, shared column types."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import CheckConstraint, DateTime, MetaData, Numeric, Uuid, func, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable names for every constraint and index, so Alembic autogenerate and hand-written
# migrations agree (and names stay below Postgres's 63 characters; longer ones are explicit).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model; timestamps are always timezone-aware."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        uuid.UUID: Uuid(),
        Decimal: Numeric(),
        dict[str, Any]: JSONB(),
    }


class TimestampMixin:
    """`created_at` / `updated_at`, set by the database; `updated_at` refreshed by the ORM."""

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


def enum_check(column: str, values: Iterable[str | int]) -> CheckConstraint:
    """A CHECK named `ck_<table>_<column>` keeping `column` within `values` (NULL passes)."""
    items = ", ".join(
        str(literal(v).compile(compile_kwargs={"literal_binds": True})) for v in values
    )
    return CheckConstraint(f"{column} IN ({items})", name=column)
