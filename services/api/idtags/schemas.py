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
TokenType = Annotated[
    Literal[
        "Central",
        "eMAID",
        "ISO14443",
        "ISO15693",
        "KeyCode",
        "Local",
        "MacAddress",
        "NoAuthorization",
    ]
    | None,
    Field(
        description="OCPP 2.0.1 IdTokenEnumType: a 2.0.1 idToken of another type does not "
        "match the tag (Invalid); null = any type (1.6 idTags have none). The local list "
        "sends ISO14443 for a tag without a type.",
    ),
]
MasterPass = Annotated[
    bool,
    Field(
        description="The tag is a group configured as MasterPass (2.0.1 C16): its members (and "
        "it) get it as groupIdToken, may stop any transaction and are never refused "
        "ConcurrentTx. Set the stations' MasterPassGroupId to it.",
    ),
]
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
    token_type: TokenType = None
    master_pass: MasterPass = False


class IdTagUpdate(ApiModel):
    """Changes to an id tag; nullable fields may be set to null."""

    expiry_date: UtcDateTime | None = None
    revoked: bool | None = None
    user_id: uuid.UUID | None = None
    parent_id_tag: IdToken | None = None
    max_active_transactions: MaxActive = None
    token_type: TokenType = None
    master_pass: bool | None = None


class IdTagRead(ReadModel):
    """An id tag; `status` is what Authorize would answer now (Blocked, Expired, Accepted)."""

    id_token: str
    expiry_date: UtcDateTime | None = None
    revoked: bool
    user_id: uuid.UUID | None = None
    parent_id_tag: str | None = None
    max_active_transactions: int | None = None
    token_type: str | None = None
    master_pass: bool = False
    status: IdTagStatus
    created_at: UtcDateTime
    updated_at: UtcDateTime
