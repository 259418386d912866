"""SQL shared by the registry's handlers (SQLAlchemy Core on the batch's session)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Table

from services.registry.policy import clip
from shared.chargepoints import chargepoint_table, create_chargepoint_if_unknown

__all__ = ["chargepoint_table", "clip_row", "create_chargepoint_if_unknown"]


def clip_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every string value cut to its column's length.

    The gateway refuses strings longer than their schema allows, but a column may be
    shorter than the schema's maxLength (and events carry values of no schema): a value
    that does not fit must not fail the whole batch.
    """
    out: dict[str, Any] = {}
    for key, value in row.items():
        column = table.c[key]
        if isinstance(column.type, String) and isinstance(value, str):
            out[key] = clip(value, column.type.length)
        else:
            out[key] = value
    return out
