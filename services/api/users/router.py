"""`/users` (admins), `/users/me` and `/users/me/profile` (every logged-in user)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile, status
from fastapi.responses import FileResponse, Response

from services.api.common import SafeStr
from services.api.deps import AdminUser, MeUser, SessionDep, SettingsDep
from services.api.errors import error_responses
from services.api.pagination import Page, PageParams, sort_param
from services.api.users import service
from services.api.users.schemas import (
    MeUpdate,
    ProfileRead,
    ProfileUpdate,
    Role,
    UserCreate,
    UserRead,
    UserUpdate,
)
from shared.db.models import Profile

router = APIRouter(prefix="/users", tags=["users"])

PROFILE_IMAGE_URL = "/api/v1/users/me/profile/image"
UserPage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "email"))]


def _profile_read(profile: Profile) -> ProfileRead:
    return ProfileRead(
        user_id=profile.user_id,
        timezone=profile.timezone,
        image_url=PROFILE_IMAGE_URL if profile.image else None,
    )


# -- me (declared before /{user_id} so "me" is not parsed as an id) ----------------------------


@router.get("/me", response_model=UserRead, responses=error_responses(401, 403))
async def read_me(principal: MeUser) -> UserRead:
    """The logged-in user."""
    return UserRead.model_validate(principal.user)


@router.patch("/me", response_model=UserRead, responses=error_responses(401, 403, 409, 422))
async def update_me(principal: MeUser, session: SessionDep, body: MeUpdate) -> UserRead:
    """Change one's own email or password (with `current_password`)."""
    assert principal.user is not None
    user = await service.update_me(session=session, user=principal.user, data=body)
    return UserRead.model_validate(user)


@router.get("/me/profile", response_model=ProfileRead, responses=error_responses(401, 403))
async def read_profile(principal: MeUser, session: SessionDep) -> ProfileRead:
    """One's profile (time zone, image link)."""
    assert principal.user_id is not None
    profile = await service.get_profile(session=session, user_id=principal.user_id)
    return _profile_read(profile)


@router.patch("/me/profile", response_model=ProfileRead, responses=error_responses(401, 403, 422))
async def update_profile(
    principal: MeUser, session: SessionDep, body: ProfileUpdate
) -> ProfileRead:
    """Set the profile's time zone (an IANA name such as `Europe/Berlin`)."""
    assert principal.user_id is not None
    profile = await service.set_timezone(
        session=session, user_id=principal.user_id, timezone=body.timezone
    )
    return _profile_read(profile)


@router.put(
    "/me/profile/image",
    response_model=ProfileRead,
    responses=error_responses(401, 403, 413, 415, 422),
)
async def upload_profile_image(
    principal: MeUser,
    session: SessionDep,
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="PNG, JPEG or WebP image")],
) -> ProfileRead:
    """Upload the profile image (multipart field `image`; size limit CSMS_MAX_UPLOAD_BYTES)."""
    assert principal.user_id is not None
    data = await image.read(settings.max_upload_bytes + 1)
    profile = await service.set_image(
        session=session,
        user_id=principal.user_id,
        data=data,
        media_dir=settings.media_dir,
        max_bytes=settings.max_upload_bytes,
    )
    return _profile_read(profile)


@router.get(
    "/me/profile/image",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
            "description": "The image",
        },
        **error_responses(401, 403, 404),
    },
)
async def read_profile_image(
    principal: MeUser, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """The uploaded profile image."""
    assert principal.user_id is not None
    path, media_type = await service.image_file(
        session=session, user_id=principal.user_id, media_dir=settings.media_dir
    )
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private"})


@router.delete(
    "/me/profile/image",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def delete_profile_image(
    principal: MeUser, session: SessionDep, settings: SettingsDep
) -> Response:
    """Remove the profile image."""
    assert principal.user_id is not None
    await service.delete_image(
        session=session, user_id=principal.user_id, media_dir=settings.media_dir
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- users (admins) --------------------------------------------------------------------------


@router.get("", response_model=Page[UserRead], responses=error_responses(401, 403, 422))
async def list_users(
    _: AdminUser,
    session: SessionDep,
    page: UserPage,
    role: Role | None = None,
    is_active: bool | None = None,
    email: Annotated[SafeStr | None, Query(max_length=320, description="substring")] = None,
) -> Page[UserRead]:
    """Users, filtered by role, active flag, email substring."""
    rows, total = await service.list_users(
        session=session, params=page, role=role, is_active=is_active, email=email
    )
    return Page[UserRead](
        items=[UserRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def create_user(_: AdminUser, session: SessionDep, body: UserCreate) -> UserRead:
    """Create a user with a role."""
    return UserRead.model_validate(await service.create_user(session=session, data=body))


@router.get("/{user_id}", response_model=UserRead, responses=error_responses(401, 403, 404, 422))
async def read_user(_: AdminUser, session: SessionDep, user_id: uuid.UUID) -> UserRead:
    """One user."""
    return UserRead.model_validate(await service.get_user(session=session, user_id=user_id))


@router.patch(
    "/{user_id}", response_model=UserRead, responses=error_responses(401, 403, 404, 409, 422)
)
async def update_user(
    principal: AdminUser, session: SessionDep, user_id: uuid.UUID, body: UserUpdate
) -> UserRead:
    """Change a user's email, password, role or active flag."""
    user = await service.update_user(
        session=session, user_id=user_id, data=body, acting_user_id=principal.user_id
    )
    return UserRead.model_validate(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def delete_user(principal: AdminUser, session: SessionDep, user_id: uuid.UUID) -> Response:
    """Delete a user (their id tags remain, unlinked)."""
    await service.delete_user(session=session, user_id=user_id, acting_user_id=principal.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
