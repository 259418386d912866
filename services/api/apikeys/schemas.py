"""API keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from services.api.common import ApiModel, ReadModel, SafeStr, UtcDateTime


class ApiKeyCreate(ApiModel):
    """A new key for a third-party app, scoped to a role."""

    name: Annotated[SafeStr, Field(min_length=1, max_length=100)]
    # A driver key would belong to no driver; drivers log in with their own account.
    role: Literal["admin", "operator"] = "operator"


class ApiKeyRead(ReadModel):
    """A key as listed: its prefix identifies it, the key itself is never shown again."""

    id: uuid.UUID
    name: str
    prefix: str
    role: str
    created_by: uuid.UUID | None = None
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None = None
    revoked_at: UtcDateTime | None = None


class ApiKeyCreated(ApiKeyRead):
    """The answer to a creation: the only time `key` is shown."""

    key: str = Field(description="Send as `X-API-Key: <key>` or `Authorization: Bearer <key>`.")
