"""Id tags (ER diagram: IdTag)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from services.api.common import ApiModel, ReadModel, SafeStr, UtcDateTime

# The column holds 255; OCPP 1.6 IdToken is CiString20, 2.0.1 idToken 36 (charge points
# report what they read, so the API does not cut below the column).
IdToken = Annotated[SafeStr, Field(min_length=1, max_length=255)]
IdTagStatus = Literal["Accepted", "Blocked", "Expired"]
MaxActive = Annotated[
    int | None,
    Field(
        ge=1,
        le=1000,
        description="Open transactions the tag may have at once (a start beyond it is answered "
        "ConcurrentTx); null = unlimited. On creation, when absent: "
        "CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS (unset = unlimited).",
    ),
]


class IdTagCreate(ApiModel):
    """A new id tag; `user_id` links it to a driver, `parent_id_tag` groups tags."""

    id_token: IdToken
    expiry_date: UtcDateTime | None = None
    revoked: bool = False
    user_id: uuid.UUID | None = None
    parent_id_tag: IdToken | None = None
    max_active_transactions: MaxActive = None


class IdTagUpdate(ApiModel):
    """Changes to an id tag; nullable fields may be set to null."""

    expiry_date: UtcDateTime | None = None
    revoked: bool | None = None
    user_id: uuid.UUID | None = None
    parent_id_tag: IdToken | None = None
    max_active_transactions: MaxActive = None


class IdTagRead(ReadModel):
    """An id tag; `status` is what Authorize would answer now (Blocked, Expired, Accepted)."""

    id_token: str
    expiry_date: UtcDateTime | None = None
    revoked: bool
    user_id: uuid.UUID | None = None
    parent_id_tag: str | None = None
    max_active_transactions: int | None = None
    status: IdTagStatus
    created_at: UtcDateTime
    updated_at: UtcDateTime
