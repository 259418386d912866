"""People and credentials: users, their profiles, API keys, and id tags."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import enums
from shared.db.base import Base, TimestampMixin, enum_check


class User(TimestampMixin, Base):
    """A person who logs in to the API (ER diagram: User); email stored lowercase."""

    __tablename__ = "user_account"
    __table_args__ = (
        enum_check("role", enums.USER_ROLES),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    last_login_at: Mapped[datetime | None]

    profile: Mapped[Profile | None] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )
    id_tags: Mapped[list[IdTag]] = relationship(
        back_populates="user", lazy="raise", passive_deletes=True
    )


class Profile(Base):
    """A user's profile, one per user (ER diagram: Profile)."""

    __tablename__ = "profile"

    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    # Path of the image relative to CSMS_MEDIA_DIR.
    image: Mapped[str | None] = mapped_column(String(512))
    # An IANA time zone name (validated by the API).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")

    user: Mapped[User] = relationship(back_populates="profile", lazy="raise")


class ApiKey(Base):
    """A key for third-party apps; only `prefix` (to find it) and an argon2 hash are stored."""

    __tablename__ = "api_key"
    __table_args__ = (enum_check("role", enums.USER_ROLES),)

    id: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True, index=True)
    key_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class IdTag(TimestampMixin, Base):
    """An authorization identifier (ER diagram: IdTag, idToken)."""

    __tablename__ = "id_tag"
    __table_args__ = (
        CheckConstraint("max_active_transactions >= 1", name="max_active_transactions_positive"),
        enum_check("token_type", enums.ID_TOKEN_TYPES),
    )

    id_token: Mapped[str] = mapped_column(String(255), primary_key=True)
    expiry_date: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    user_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    parent_id_tag: Mapped[str | None] = mapped_column(
        ForeignKey("id_tag.id_token", ondelete="SET NULL"), index=True
    )
    # How many open (Active) transactions the tag may have at once: a start beyond it is
    # answered ConcurrentTx. NULL = unlimited (new tags: CSMS_DEFAULT_MAX_ACTIVE_TRANSACTIONS).
    max_active_transactions: Mapped[int | None] = mapped_column(Integer)
    # OCPP 2.0.1 IdTokenEnumType of the token (ISO14443, eMAID, ...): a 2.0.1 idToken of
    # another type does not match it. NULL: any type (and every 1.6 idTag).
    token_type: Mapped[str | None] = mapped_column(String(20))
    # A group tag (the parent of others) configured as MasterPass (2.0.1 C16): a token of
    # the group may stop any transaction; it never starts one.
    master_pass: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User | None] = relationship(back_populates="id_tags", lazy="raise")
    parent: Mapped[IdTag | None] = relationship(remote_side=[id_token], lazy="raise")


# The transactions service falls back to a case-insensitive lookup (OCPP IdToken is a
# CiString): `lower(id_token) = :tag_lowercased` uses this index.
Index("ix_id_tag_lower_id_token", func.lower(IdTag.id_token))
