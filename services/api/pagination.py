"""Paging (`limit`/`offset`), sorting (`sort=field` or `sort=-field`) and the list envelope."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

ItemT = TypeVar("ItemT")
RowT = TypeVar("RowT")
ReadT = TypeVar("ReadT", bound=BaseModel)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Postgres OFFSET is a bigint, but nobody pages this far; the bound keeps asyncpg from overflowing.
MAX_OFFSET = 2_000_000_000


class Page(BaseModel, Generic[ItemT]):
    """One page of a list: the items and the total number matching the filters."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class PageParams:
    """Validated paging and sort of a list request."""

    limit: int
    offset: int
    sort: str


def page_of(model: type[ReadT], rows: Iterable[Any], total: int, params: PageParams) -> Page[ReadT]:
    """The list envelope of `rows` (ORM objects) read as `model`."""
    return Page[model](  # type: ignore[valid-type]
        items=[model.model_validate(r) for r in rows],
        total=total,
        limit=params.limit,
        offset=params.offset,
    )


def sort_param(fields: Sequence[str], default: str) -> Callable[..., PageParams]:
    """A dependency reading `limit`, `offset` and `sort` (one of `fields`, `-` for descending)."""
    pattern = "^-?(" + "|".join(fields) + ")$"
    description = f"Sort field, `-` prefix for descending; one of: {', '.join(fields)}."

    def dependency(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
        sort: Annotated[str, Query(pattern=pattern, description=description)] = default,
    ) -> PageParams:
        return PageParams(limit=limit, offset=offset, sort=sort)

    return dependency


def order_by(
    sort: str, columns: Mapping[str, ColumnElement[Any] | Any], tiebreak: Any
) -> list[Any]:
    """ORDER BY clauses for `sort` plus a unique tie-breaker, so pages are stable."""
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    first = column.desc().nulls_last() if descending else column.asc().nulls_last()
    return [first, tiebreak.desc() if descending else tiebreak.asc()]


async def paginate(
    session: AsyncSession,
    stmt: Select[RowT],
    *,
    params: PageParams,
    columns: Mapping[str, Any],
    tiebreak: Any,
) -> tuple[list[RowT], int]:
    """Run `stmt` for one page and count all its rows."""
    total_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = int((await session.execute(total_stmt)).scalar_one())
    page_stmt = (
        stmt.order_by(*order_by(params.sort, columns, tiebreak))
        .limit(params.limit)
        .offset(params.offset)
    )
    rows = list((await session.execute(page_stmt)).scalars().all())
    return rows, total


def where_equal(stmt: Select[RowT], *filters: tuple[Any, object | None]) -> Select[RowT]:
    """Add `column == value` for each `(column, value)` whose value is not None."""
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def where_between(
    stmt: Select[RowT], column: Any, after: datetime | None, before: datetime | None
) -> Select[RowT]:
    """Restrict `column` to `[after, before)`; either bound may be None (open)."""
    if after is not None:
        stmt = stmt.where(column >= after)
    if before is not None:
        stmt = stmt.where(column < before)
    return stmt
