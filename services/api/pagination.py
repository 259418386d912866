"""Paging (`limit`/`offset`), sorting (`sort=field` or `sort=-field`) and the list envelope.

Log tables (message log, heartbeats, status notifications, command log, balancing decisions)
grow without bound: they page by keyset (`cursor`, the `next_cursor` of the previous page)
along an index on (time column, id), and count exactly only up to `EXACT_COUNT_LIMIT` rows,
beyond which `total` is the planner's estimate (`total_estimated: true`).
"""

import base64
import binascii
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, literal_column, select, text, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from services.api.errors import Unprocessable

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


class LogPage(Page[ItemT], Generic[ItemT]):
    """A page of a log table: `next_cursor` fetches the next one; `total` may be an estimate."""

    next_cursor: str | None = None
    total_estimated: bool = False


@dataclass(frozen=True, slots=True)
class PageParams:
    """Validated paging and sort of a list request."""

    limit: int
    offset: int
    sort: str
    cursor: str | None = None


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
    """ORDER BY clauses for `sort` plus a unique tie-breaker, so pages are stable.

    NULLS LAST only where the column can hold NULL: on a NOT NULL column `DESC NULLS LAST`
    means the same rows but no longer matches a plain btree index, so Postgres sorts the whole
    table instead of reading the index backwards.
    """
    descending = sort.startswith("-")
    column = columns[sort.lstrip("-")]
    first = column.desc() if descending else column.asc()
    if getattr(column, "nullable", True):
        first = first.nulls_last()
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


BIGINT_MAX = 9_223_372_036_854_775_807
EXACT_COUNT_LIMIT = 10_000
"""Log lists count matching rows exactly up to this many; beyond, the planner estimates."""


def log_sort_param(field: str) -> Callable[..., PageParams]:
    """`limit`, `offset`, `sort` (`field` or `-field`, newest first by default) and `cursor`."""

    def dependency(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
        offset: Annotated[
            int, Query(ge=0, le=MAX_OFFSET, description="Items to skip (prefer `cursor`).")
        ] = 0,
        sort: Annotated[
            str, Query(pattern=f"^-?{field}$", description=f"`{field}` or `-{field}`.")
        ] = f"-{field}",
        cursor: Annotated[
            str | None,
            Query(max_length=200, description="`next_cursor` of the previous page."),
        ] = None,
    ) -> PageParams:
        return PageParams(limit=limit, offset=offset, sort=sort, cursor=cursor)

    return dependency


def encode_cursor(value: datetime, row_id: object) -> str:
    """The opaque `next_cursor` after a row: its time and id."""
    raw = orjson.dumps([value.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, id_type: type) -> tuple[datetime, Any]:
    """The (time, id) of a cursor; 422 when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, row_id = orjson.loads(raw)
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if id_type is uuid.UUID:
            return parsed, uuid.UUID(row_id)
        number = int(row_id)
        if not 0 < number <= BIGINT_MAX:
            raise ValueError("row id out of range")
        return parsed, number
    except (binascii.Error, ValueError, TypeError, OverflowError, orjson.JSONDecodeError):
        raise Unprocessable("cursor", "not a next_cursor of this list") from None


async def paginate_log(
    session: AsyncSession,
    stmt: Select[RowT],
    *,
    params: PageParams,
    column: Any,
    tiebreak: Any,
    id_type: type = int,
) -> tuple[list[RowT], int, bool, str | None]:
    """One page of a log table along (column, tiebreak): rows, total, estimated?, next cursor.

    The ORDER BY and the cursor's row comparison match a btree index on (column, id), so a page
    costs an index range scan of `limit` rows, however deep.
    """
    descending = params.sort.startswith("-")
    total, estimated = await count_capped(session, stmt)
    page = stmt
    if params.cursor is not None:
        value, row_id = decode_cursor(params.cursor, id_type)
        key = tuple_(column, tiebreak)
        page = page.where(
            key < tuple_(value, row_id) if descending else key > tuple_(value, row_id)
        )
    order = [column.desc(), tiebreak.desc()] if descending else [column.asc(), tiebreak.asc()]
    page = page.order_by(*order).limit(params.limit).offset(params.offset)
    rows = list((await session.execute(page)).scalars().all())
    next_cursor = None
    if len(rows) == params.limit:
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, column.key), getattr(last, tiebreak.key))
    return rows, total, estimated, next_cursor


async def count_capped(session: AsyncSession, stmt: Select[Any]) -> tuple[int, bool]:
    """Matching rows, exactly up to EXACT_COUNT_LIMIT; beyond, the planner's estimate."""
    probe: Select[Any] = (
        stmt.with_only_columns(literal_column("1"), maintain_column_froms=True)
        .order_by(None)
        .limit(EXACT_COUNT_LIMIT + 1)
    )
    exact = int(
        (await session.execute(select(func.count()).select_from(probe.subquery()))).scalar_one()
    )
    if exact <= EXACT_COUNT_LIMIT:
        return exact, False
    return max(await estimate_rows(session, stmt), exact), True


async def estimate_rows(session: AsyncSession, stmt: Select[Any]) -> int:
    """The planner's row estimate of `stmt` (EXPLAIN, nothing is read)."""
    bind = session.get_bind()
    try:
        sql = str(
            stmt.order_by(None).compile(
                dialect=bind.dialect, compile_kwargs={"literal_binds": True}
            )
        )
        plan = (await session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
    except (SQLAlchemyError, NotImplementedError):
        return 0
    document = orjson.loads(plan) if isinstance(plan, str | bytes) else plan
    return int(document[0]["Plan"]["Plan Rows"])


def log_page_of(
    model: type[ReadT],
    rows: Iterable[Any],
    total: int,
    estimated: bool,
    next_cursor: str | None,
    params: PageParams,
) -> LogPage[ReadT]:
    """The list envelope of a log page."""
    return LogPage[model](  # type: ignore[valid-type]
        items=[model.model_validate(r) for r in rows],
        total=total,
        limit=params.limit,
        offset=params.offset,
        next_cursor=next_cursor,
        total_estimated=estimated,
    )
