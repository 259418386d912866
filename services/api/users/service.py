"""Users, one's own account, profiles and profile images."""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import security
from services.api.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from services.api.pagination import PageParams, paginate
from services.api.users.password_policy import password_problem
from services.api.users.schemas import MeUpdate, UserCreate, UserUpdate
from shared.db.models import Profile, User

SORT_FIELDS = ("email", "role", "created_at", "last_login_at")
_COLUMNS = {
    "email": User.email,
    "role": User.role,
    "created_at": User.created_at,
    "last_login_at": User.last_login_at,
}
# Pillow format -> (file extension, media type) of the accepted images.
IMAGE_FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
}
MEDIA_TYPES = dict(IMAGE_FORMATS.values())
# 40 megapixels: beyond that an "image" is more likely a decompression bomb than a portrait.
MAX_IMAGE_PIXELS = 40_000_000
PROFILE_IMAGE_DIR = "profiles"


async def list_users(
    *,
    session: AsyncSession,
    params: PageParams,
    role: str | None = None,
    is_active: bool | None = None,
    email: str | None = None,
) -> tuple[list[User], int]:
    """Users matching the filters (`email` is a case-insensitive substring)."""
    stmt = select(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if is_active is not None:
        stmt = stmt.where(User.is_active == is_active)
    if email:
        stmt = stmt.where(User.email.contains(email.lower(), autoescape=True))
    return await paginate(session, stmt, params=params, columns=_COLUMNS, tiebreak=User.id)


async def get_user(*, session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user, or NotFound."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def _email_taken(session: AsyncSession, email: str, *, other_than: uuid.UUID | None) -> bool:
    stmt = select(User.id).where(User.email == email)
    if other_than is not None:
        stmt = stmt.where(User.id != other_than)
    return (await session.scalar(stmt)) is not None


async def _hash(session: AsyncSession, password: str) -> str:
    """argon2 in a worker thread, with no database connection held meanwhile."""
    await security.end_read_transaction(session)
    return await security.hash_password_async(password)


async def _commit(session: AsyncSession, message: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(message) from None


async def create_user(*, session: AsyncSession, data: UserCreate) -> User:
    """Create a user; Conflict when the email is taken."""
    if await _email_taken(session, data.email, other_than=None):
        raise Conflict(f"a user with email {data.email} exists")
    password_hash = await _hash(session, data.password)  # checks first: a 409 costs no argon2
    user = User(
        email=data.email,
        password_hash=password_hash,
        role=data.role,
        is_active=data.is_active,
    )
    session.add(user)
    await _commit(session, f"a user with email {data.email} exists")
    await session.refresh(user)
    return user


async def _other_active_admins(session: AsyncSession, user_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        User.role == "admin", User.is_active.is_(True), User.id != user_id
    )
    return int(await session.scalar(stmt) or 0)


async def update_user(
    *, session: AsyncSession, user_id: uuid.UUID, data: UserUpdate, acting_user_id: uuid.UUID | None
) -> User:
    """Change a user; the last active admin cannot be demoted or deactivated."""
    user = await get_user(session=session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    removes_admin = (
        user.role == "admin"
        and user.is_active
        and (changes.get("role", "admin") != "admin" or changes.get("is_active", True) is False)
    )
    if removes_admin:
        if user.id == acting_user_id:
            raise Conflict("you cannot demote or deactivate yourself")
        if await _other_active_admins(session, user.id) == 0:
            raise Conflict("at least one active admin must remain")
    new_email = data.email is not None and data.email != user.email
    if new_email and await _email_taken(session, data.email or "", other_than=user.id):
        raise Conflict(f"a user with email {data.email} exists")
    _check_not_email(data.password, data.email or user.email)
    # Checked; nothing changed yet: argon2 with no connection held, then the changes.
    new_hash = None if data.password is None else await _hash(session, data.password)
    if new_email and data.email is not None:
        user.email = data.email
    if new_hash is not None:
        user.password_hash = new_hash
    if data.role is not None:
        user.role = data.role
    if data.is_active is not None:
        user.is_active = data.is_active
    await _commit(session, "the change conflicts with another user")
    await session.refresh(user)
    return user


async def delete_user(
    *, session: AsyncSession, user_id: uuid.UUID, acting_user_id: uuid.UUID | None
) -> None:
    """Delete a user (its id tags stay, unlinked); never oneself nor the last admin."""
    user = await get_user(session=session, user_id=user_id)
    if user.id == acting_user_id:
        raise Conflict("you cannot delete yourself")
    if (
        user.role == "admin"
        and user.is_active
        and await _other_active_admins(session, user.id) == 0
    ):
        raise Conflict("at least one active admin must remain")
    await session.delete(user)
    await _commit(session, "the user is still referenced")


def _check_not_email(password: str | None, email: str) -> None:
    """The password policy's email rule against the email the user will have."""
    if password is not None and password_problem(password, email) is not None:
        raise Unprocessable("password", "must not contain the email address")


async def update_me(*, session: AsyncSession, user: User, data: MeUpdate) -> User:
    """Change one's own email or password, confirmed by the current password."""
    await security.end_read_transaction(session)
    if not await security.verify_password_async(data.current_password, user.password_hash):
        raise Forbidden("current_password is wrong")
    new_email = data.email is not None and data.email != user.email
    if new_email and await _email_taken(session, data.email or "", other_than=user.id):
        raise Conflict(f"a user with email {data.email} exists")
    _check_not_email(data.password, data.email or user.email)
    new_hash = None if data.password is None else await _hash(session, data.password)
    if new_email and data.email is not None:
        user.email = data.email
    if new_hash is not None:
        user.password_hash = new_hash
    session.add(user)
    await _commit(session, "the change conflicts with another user")
    await session.refresh(user)
    return user


# -- profile ---------------------------------------------------------------------------------


async def get_profile(*, session: AsyncSession, user_id: uuid.UUID) -> Profile:
    """The user's profile, created with defaults on first use."""
    profile = await session.get(Profile, user_id)
    if profile is None:
        profile = Profile(user_id=user_id, timezone="UTC")
        session.add(profile)
        try:
            await session.commit()
        except IntegrityError:  # created concurrently
            await session.rollback()
            profile = await session.get(Profile, user_id)
            if profile is None:
                raise NotFound("profile", user_id) from None
    return profile


async def set_timezone(*, session: AsyncSession, user_id: uuid.UUID, timezone: str) -> Profile:
    """Set the profile's IANA time zone (validated by the schema)."""
    profile = await get_profile(session=session, user_id=user_id)
    profile.timezone = timezone
    await session.commit()
    return profile


@dataclass(frozen=True, slots=True)
class CheckedImage:
    """An upload that Pillow recognised as an accepted image."""

    extension: str
    media_type: str
    width: int
    height: int


def check_image(data: bytes) -> CheckedImage:
    """Open and verify the bytes with Pillow: PNG, JPEG or WebP, not corrupt, not a bomb."""
    try:
        # Past MAX_IMAGE_PIXELS Pillow warns (an error under strict warning filters), past twice
        # that it raises; our own smaller bound refuses either way.
        return _check_image(data)
    except UnidentifiedImageError:
        raise UnsupportedMediaType("the file is not an image (PNG, JPEG or WebP)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise Unprocessable("image", "the image has too many pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Unprocessable("image", f"the image is corrupt: {exc}") from None


def _check_image(data: bytes) -> CheckedImage:
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format or ""
        if fmt not in IMAGE_FORMATS:
            raise UnsupportedMediaType(
                f"image format {fmt or 'unknown'} is not accepted; use PNG, JPEG or WebP"
            )
        width, height = img.size
        if width * height > MAX_IMAGE_PIXELS:
            raise Unprocessable("image", f"image has more than {MAX_IMAGE_PIXELS} pixels")
        img.verify()
    # verify() checks structure; a full decode catches truncated pixel data too.
    with Image.open(io.BytesIO(data)) as img:
        img.load()
    extension, media_type = IMAGE_FORMATS[fmt]
    return CheckedImage(extension=extension, media_type=media_type, width=width, height=height)


def _media_path(media_dir: str, relative: str) -> Path:
    root = Path(media_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise NotFound("image", relative)
    return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


async def set_image(
    *, session: AsyncSession, user_id: uuid.UUID, data: bytes, media_dir: str, max_bytes: int
) -> Profile:
    """Check, store and link a new profile image (the previous file is removed)."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the image is larger than {max_bytes} bytes")
    if not data:
        raise Unprocessable("image", "the file is empty")
    checked = await asyncio.to_thread(check_image, data)
    relative = f"{PROFILE_IMAGE_DIR}/{user_id}/{uuid.uuid4().hex}.{checked.extension}"
    path = _media_path(media_dir, relative)
    await asyncio.to_thread(_write, path, data)
    profile = await get_profile(session=session, user_id=user_id)
    previous = profile.image
    profile.image = relative
    await session.commit()
    if previous:
        _media_path(media_dir, previous).unlink(missing_ok=True)
    return profile


async def image_file(
    *, session: AsyncSession, user_id: uuid.UUID, media_dir: str
) -> tuple[Path, str]:
    """The stored image's path and media type, or NotFound."""
    profile = await session.get(Profile, user_id)
    if profile is None or not profile.image:
        raise NotFound("profile image of user", user_id)
    path = _media_path(media_dir, profile.image)
    if not path.is_file():
        raise NotFound("profile image of user", user_id)
    media_type = MEDIA_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")
    return path, media_type


async def delete_image(*, session: AsyncSession, user_id: uuid.UUID, media_dir: str) -> None:
    """Remove the profile image (NotFound when there is none)."""
    profile = await session.get(Profile, user_id)
    if profile is None or not profile.image:
        raise NotFound("profile image of user", user_id)
    previous = profile.image
    profile.image = None
    await session.commit()
    _media_path(media_dir, previous).unlink(missing_ok=True)
