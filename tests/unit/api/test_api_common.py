"""Shared types, pagination, the error format, route templates, image checks."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from PIL import Image
from pydantic import BaseModel, ValidationError

from services.api.app import route_template
from services.api.common import ApiModel, UtcDateTime
from services.api.errors import ErrorResponse, NotFound, Unprocessable, error_responses
from services.api.pagination import (
    PageParams,
    decode_cursor,
    encode_cursor,
    order_by,
    sort_param,
)
from services.api.users.schemas import ProfileUpdate, UserCreate
from services.api.users.service import check_image


class Stamp(BaseModel):
    at: UtcDateTime


class Body(ApiModel):
    name: str


def test_datetimes_are_converted_to_utc() -> None:
    berlin = timezone(timedelta(hours=2))
    assert Stamp(at=datetime(2024, 5, 1, 10, tzinfo=berlin)).at == datetime(
        2024, 5, 1, 8, tzinfo=UTC
    )
    assert Stamp(at="2024-05-01T10:00:00+02:00").model_dump(mode="json") == {
        "at": "2024-05-01T08:00:00+00:00"
    }
    # naive input is taken as UTC
    assert Stamp(at="2024-05-01T08:00:00").at.tzinfo is UTC


@pytest.mark.parametrize(
    "bad", ["tomorrow", "1700000000", 1700000000, "2024-05-01", "9999-12-31T23:00:00-05:00"]
)
def test_bad_datetimes_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        Stamp.model_validate({"at": bad})


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800"])
def test_unstorable_text_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        Body(name=bad)


def test_request_models_forbid_unknown_fields_and_strip() -> None:
    assert Body(name="  x ").name == "x"
    with pytest.raises(ValidationError):
        Body.model_validate({"name": "x", "other": 1})


def test_user_email_is_lowercased_and_checked() -> None:
    assert UserCreate(email="A@B.Example", password="vivid-otter-lamp-42").email == "a@b.example"
    with pytest.raises(ValidationError):
        UserCreate(email="no-at-sign", password="vivid-otter-lamp-42")
    with pytest.raises(ValidationError):
        UserCreate(email="ü@b.example", password="vivid-otter-lamp-42")


def test_timezone_must_be_iana() -> None:
    assert ProfileUpdate(timezone="America/New_York").timezone == "America/New_York"
    for bad in ("Mars/Base", "", "../etc"):
        with pytest.raises(ValidationError):
            ProfileUpdate(timezone=bad)


def test_sort_param_and_order_by() -> None:
    from sqlalchemy import Column, Integer, String

    dep = sort_param(("name", "created_at"), "name")
    params = dep(limit=10, offset=5, sort="-created_at")
    assert params == PageParams(limit=10, offset=5, sort="-created_at")
    name, created, ident = (
        Column("name", String),
        Column("created_at", Integer),
        Column("id", Integer),
    )
    clauses = order_by("-created_at", {"name": name, "created_at": created}, ident)
    assert [str(c) for c in clauses] == ["created_at DESC NULLS LAST", "id DESC"]
    clauses = order_by("name", {"name": name, "created_at": created}, ident)
    assert [str(c) for c in clauses] == ["name ASC NULLS LAST", "id ASC"]


def test_error_shapes() -> None:
    err = NotFound("location", "abc")
    assert err.status_code == 404 and err.code == "not_found" and "abc" in err.message
    err2 = Unprocessable("body.timezone", "unknown")
    assert err2.details[0].field == "body.timezone" and "body.timezone" in err2.message
    responses = error_responses(404, 422)
    assert set(responses) == {400, 404, 422}
    assert all(r["model"] is ErrorResponse for r in responses.values())


def test_route_template_adds_the_api_prefix() -> None:
    class Route:
        path_format = "/locations/{location_id}"

    scope = {"route": Route(), "path": "/api/v1/locations/abc"}
    assert route_template(scope) == "/api/v1/locations/{location_id}"
    assert (
        route_template({"route": Route(), "path": "/locations/abc"}) == "/locations/{location_id}"
    )
    assert route_template({"path": "/nothing"}) == "unmatched"


def _image(fmt: str, size: tuple[int, int] = (4, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_check_image_accepts(fmt: str, ext: str) -> None:
    checked = check_image(_image(fmt))
    assert checked.extension == ext and (checked.width, checked.height) == (4, 4)


def test_check_image_refuses() -> None:
    from services.api.errors import ApiError

    with pytest.raises(ApiError) as not_image:
        check_image(b"hello")
    assert not_image.value.status_code == 415
    with pytest.raises(ApiError) as gif:
        check_image(_image("GIF"))
    assert gif.value.status_code == 415
    data = _image("PNG", (64, 64))
    with pytest.raises(ApiError) as truncated:
        check_image(data[: len(data) // 2])
    assert truncated.value.status_code == 422


def test_check_image_refuses_pixel_bombs() -> None:
    from services.api.errors import ApiError

    # a PNG header claiming 100000 x 100000 pixels
    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = (100_000).to_bytes(4, "big") * 2
    with pytest.raises(ApiError) as bomb:
        check_image(bytes(data))
    assert bomb.value.status_code in (415, 422)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        base64.urlsafe_b64encode(b'["2024-05-01T08:00:00", "99999999999999999999"]').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "1"]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
    ],
)
def test_a_cursor_no_page_handed_out_is_422(cursor: str) -> None:
    with pytest.raises(Unprocessable):
        decode_cursor(cursor, int)


def test_cursors_round_trip() -> None:
    when = datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, 42), int) == (when, 42)
    row = uuid.uuid4()
    assert decode_cursor(encode_cursor(when, row), uuid.UUID) == (when, row)


def test_order_by_keeps_nulls_last_only_for_nullable_columns() -> None:
    """`DESC NULLS LAST` on a NOT NULL column defeats its btree index (Postgres sorts instead)."""
    from sqlalchemy.dialects.postgresql.base import PGDialect

    from shared.db.models import CommandLog

    def sql(sort: str) -> str:
        columns = {"created_at": CommandLog.created_at, "completed_at": CommandLog.completed_at}
        clauses = order_by(sort, columns, CommandLog.id)
        dialect = PGDialect()  # type: ignore[no-untyped-call]
        return " ".join(str(c.compile(dialect=dialect)) for c in clauses)

    assert "NULLS" not in sql("-created_at")
    assert "NULLS LAST" in sql("-completed_at")
