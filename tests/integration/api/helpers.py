"""Assertions on the API's common error format."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The response is an error of `status` in the common format, naming `field` if given."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        fields = [d["field"] for d in error["details"]]
        assert any(f is not None and f.endswith(field) for f in fields), (field, error)
        assert field.split(".")[-1] in error["message"], error
    result: dict[str, Any] = error
    return result
