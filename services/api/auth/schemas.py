"""Token responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from services.api.common import UtcDateTime


class Token(BaseModel):
    """An OAuth2 bearer token (RFC 6749 §5.1) with its expiry."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    expires_at: UtcDateTime
