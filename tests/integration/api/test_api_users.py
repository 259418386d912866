"""Users (admins), `users/me`, and the profile with its time zone and image."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from shared.settings import Settings

from .conftest import ADMIN_PASSWORD, MAX_UPLOAD_BYTES, USER_PASSWORD, Actor
from .helpers import assert_error

MISSING = "00000000-0000-0000-0000-000000000000"


def image_bytes(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    """A small valid image in the given Pillow format."""
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


async def stored_files(settings: Settings) -> list[Path]:
    """The files under the media directory (listed off the event loop)."""
    return await asyncio.to_thread(lambda: list(Path(settings.media_dir).rglob("*.*")))


async def test_admin_creates_lists_reads_updates_deletes_users(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    h = admin.headers
    r = await client.post(
        "/api/v1/users",
        json={"email": "New.Driver@Example.com", "password": "long-enough-1", "role": "driver"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["email"] == "new.driver@example.com"
    assert "password" not in user and "password_hash" not in user
    r = await client.get("/api/v1/users?role=driver", headers=h)
    assert r.json()["total"] == 1 and r.json()["items"][0]["id"] == user["id"]
    r = await client.get("/api/v1/users?email=NEW.DRIVER", headers=h)
    assert r.json()["total"] == 1
    r = await client.get(f"/api/v1/users/{user['id']}", headers=h)
    assert r.status_code == 200 and r.json()["role"] == "driver"
    r = await client.patch(f"/api/v1/users/{user['id']}", json={"role": "operator"}, headers=h)
    assert r.status_code == 200 and r.json()["role"] == "operator"
    # the new password works for login
    r = await client.patch(
        f"/api/v1/users/{user['id']}", json={"password": "another-pass-2"}, headers=h
    )
    assert r.status_code == 200
    r = await client.post(
        "/api/v1/auth/token",
        data={"username": "new.driver@example.com", "password": "another-pass-2"},
    )
    assert r.status_code == 200
    r = await client.delete(f"/api/v1/users/{user['id']}", headers=h)
    assert r.status_code == 204
    assert_error(await client.get(f"/api/v1/users/{user['id']}", headers=h), 404, "not_found")


async def test_user_sorting_and_paging(client: httpx.AsyncClient, admin: Actor) -> None:
    for name in ("c", "a", "b"):
        await client.post(
            "/api/v1/users",
            json={"email": f"{name}@x.test", "password": "long-enough-1"},
            headers=admin.headers,
        )
    r = await client.get("/api/v1/users?role=driver&sort=-email&limit=2", headers=admin.headers)
    body = r.json()
    assert body["total"] == 3 and body["limit"] == 2
    assert [u["email"] for u in body["items"]] == ["c@x.test", "b@x.test"]
    r = await client.get(
        "/api/v1/users?role=driver&sort=-email&limit=2&offset=2", headers=admin.headers
    )
    assert [u["email"] for u in r.json()["items"]] == ["a@x.test"]


async def test_user_validation_names_the_field(client: httpx.AsyncClient, admin: Actor) -> None:
    h = admin.headers
    r = await client.post(
        "/api/v1/users", json={"email": "not-an-email", "password": "long-enough"}, headers=h
    )
    assert_error(r, 422, "validation_error", field="email")
    r = await client.post(
        "/api/v1/users", json={"email": "a@b.test", "password": "short"}, headers=h
    )
    assert_error(r, 422, field="password")
    r = await client.post(
        "/api/v1/users",
        json={"email": "a@b.test", "password": "long-enough", "role": "root"},
        headers=h,
    )
    assert_error(r, 422, field="role")
    r = await client.post(
        "/api/v1/users",
        json={"email": "a@b.test", "password": "long-enough", "extra": 1},
        headers=h,
    )
    assert_error(r, 422, field="extra")
    assert_error(await client.get("/api/v1/users/not-a-uuid", headers=h), 422, field="user_id")


async def test_duplicate_email_is_409(
    client: httpx.AsyncClient, admin: Actor, driver: Actor, operator: Actor
) -> None:
    r = await client.post(
        "/api/v1/users",
        json={"email": driver.email, "password": "long-enough-1"},
        headers=admin.headers,
    )
    assert_error(r, 409, "conflict")
    r = await client.patch(
        f"/api/v1/users/{operator.id}", json={"email": driver.email}, headers=admin.headers
    )
    assert_error(r, 409, "conflict")


async def test_user_not_found(client: httpx.AsyncClient, admin: Actor) -> None:
    h = admin.headers
    assert_error(await client.get(f"/api/v1/users/{MISSING}", headers=h), 404)
    assert_error(await client.patch(f"/api/v1/users/{MISSING}", json={}, headers=h), 404)
    assert_error(await client.delete(f"/api/v1/users/{MISSING}", headers=h), 404)


async def test_admin_cannot_lock_themselves_out(client: httpx.AsyncClient, admin: Actor) -> None:
    h = admin.headers
    assert_error(await client.delete(f"/api/v1/users/{admin.id}", headers=h), 409)
    r = await client.patch(f"/api/v1/users/{admin.id}", json={"role": "driver"}, headers=h)
    assert_error(r, 409)
    r = await client.patch(f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=h)
    assert_error(r, 409)


async def test_users_are_admin_only(
    client: httpx.AsyncClient, operator: Actor, driver: Actor
) -> None:
    for actor in (operator, driver):
        h = actor.headers
        assert_error(await client.get("/api/v1/users", headers=h), 403, "forbidden")
        r = await client.post(
            "/api/v1/users", json={"email": "z@z.test", "password": "long-enough"}, headers=h
        )
        assert_error(r, 403)
        assert_error(await client.get(f"/api/v1/users/{driver.id}", headers=h), 403)
        r = await client.patch(f"/api/v1/users/{driver.id}", json={"role": "admin"}, headers=h)
        assert_error(r, 403)
        assert_error(await client.delete(f"/api/v1/users/{driver.id}", headers=h), 403)


# -- me ------------------------------------------------------------------------------------------


async def test_me_and_changing_own_password(client: httpx.AsyncClient, driver: Actor) -> None:
    r = await client.get("/api/v1/users/me", headers=driver.headers)
    assert r.status_code == 200 and r.json()["role"] == "driver"
    r = await client.patch(
        "/api/v1/users/me",
        json={"current_password": "wrong-one", "password": "brand-new-pass"},
        headers=driver.headers,
    )
    assert_error(r, 403)
    r = await client.patch(
        "/api/v1/users/me",
        json={"current_password": USER_PASSWORD, "password": "brand-new-pass"},
        headers=driver.headers,
    )
    assert r.status_code == 200
    r = await client.post(
        "/api/v1/auth/token", data={"username": driver.email, "password": "brand-new-pass"}
    )
    assert r.status_code == 200


async def test_me_cannot_change_role(client: httpx.AsyncClient, driver: Actor) -> None:
    r = await client.patch(
        "/api/v1/users/me",
        json={"current_password": USER_PASSWORD, "role": "admin"},
        headers=driver.headers,
    )
    assert_error(r, 422, field="role")
    r = await client.patch("/api/v1/users/me", json={"password": "x" * 10}, headers=driver.headers)
    assert_error(r, 422, field="current_password")


async def test_me_email_conflict(client: httpx.AsyncClient, admin: Actor, driver: Actor) -> None:
    r = await client.patch(
        "/api/v1/users/me",
        json={"current_password": ADMIN_PASSWORD, "email": driver.email},
        headers=admin.headers,
    )
    assert_error(r, 409)


# -- profile -------------------------------------------------------------------------------------


async def test_profile_defaults_and_timezone(client: httpx.AsyncClient, driver: Actor) -> None:
    r = await client.get("/api/v1/users/me/profile", headers=driver.headers)
    assert r.status_code == 200
    assert r.json() == {"user_id": str(driver.id), "timezone": "UTC", "image_url": None}
    r = await client.patch(
        "/api/v1/users/me/profile", json={"timezone": "Europe/Berlin"}, headers=driver.headers
    )
    assert r.status_code == 200 and r.json()["timezone"] == "Europe/Berlin"
    r = await client.get("/api/v1/users/me/profile", headers=driver.headers)
    assert r.json()["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    "bad", ["Mars/Olympus", "", "../../etc/passwd", "Europe/Berlin\x00", "x" * 65]
)
async def test_bad_timezone_is_422(client: httpx.AsyncClient, driver: Actor, bad: str) -> None:
    r = await client.patch(
        "/api/v1/users/me/profile", json={"timezone": bad}, headers=driver.headers
    )
    assert_error(r, 422, "validation_error", field="timezone")


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
async def test_image_upload_and_serve_back(
    client: httpx.AsyncClient,
    driver: Actor,
    api_settings: Settings,
    fmt: str,
    media_type: str,
) -> None:
    data = image_bytes(fmt)
    r = await client.put(
        "/api/v1/users/me/profile/image",
        files={"image": ("me.bin", data, "application/octet-stream")},
        headers=driver.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["image_url"] == "/api/v1/users/me/profile/image"
    r = await client.get("/api/v1/users/me/profile/image", headers=driver.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == media_type
    assert r.content == data
    stored = await stored_files(api_settings)
    assert len(stored) == 1 and await asyncio.to_thread(stored[0].read_bytes) == data


async def test_new_image_replaces_the_old_file(
    client: httpx.AsyncClient, driver: Actor, api_settings: Settings
) -> None:
    for fmt in ("PNG", "JPEG"):
        r = await client.put(
            "/api/v1/users/me/profile/image",
            files={"image": ("x", image_bytes(fmt), "image/png")},
            headers=driver.headers,
        )
        assert r.status_code == 200
    stored = await stored_files(api_settings)
    assert [p.suffix for p in stored] == [".jpg"]
    r = await client.delete("/api/v1/users/me/profile/image", headers=driver.headers)
    assert r.status_code == 204
    assert await stored_files(api_settings) == []
    assert_error(await client.get("/api/v1/users/me/profile/image", headers=driver.headers), 404)
    assert_error(await client.delete("/api/v1/users/me/profile/image", headers=driver.headers), 404)


async def test_non_image_upload_is_415(client: httpx.AsyncClient, driver: Actor) -> None:
    r = await client.put(
        "/api/v1/users/me/profile/image",
        files={"image": ("evil.png", b"#!/bin/sh\necho not an image\n", "image/png")},
        headers=driver.headers,
    )
    assert_error(r, 415, "unsupported_media_type")


async def test_other_image_format_is_415(client: httpx.AsyncClient, driver: Actor) -> None:
    r = await client.put(
        "/api/v1/users/me/profile/image",
        files={"image": ("a.gif", image_bytes("GIF"), "image/gif")},
        headers=driver.headers,
    )
    assert_error(r, 415, "unsupported_media_type")


async def test_truncated_image_is_422(client: httpx.AsyncClient, driver: Actor) -> None:
    data = image_bytes("PNG", (64, 64))
    r = await client.put(
        "/api/v1/users/me/profile/image",
        files={"image": ("a.png", data[: len(data) // 2], "image/png")},
        headers=driver.headers,
    )
    assert_error(r, 422, field="image")


async def test_oversize_upload_is_413(client: httpx.AsyncClient, driver: Actor) -> None:
    big = image_bytes("PNG") + b"\0" * MAX_UPLOAD_BYTES
    r = await client.put(
        "/api/v1/users/me/profile/image",
        files={"image": ("big.png", big, "image/png")},
        headers=driver.headers,
    )
    assert_error(r, 413, "payload_too_large")


async def test_missing_file_is_422(client: httpx.AsyncClient, driver: Actor) -> None:
    r = await client.put(
        "/api/v1/users/me/profile/image", data={"other": "x"}, headers=driver.headers
    )
    assert_error(r, 422, field="image")


async def test_profile_needs_a_login(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/users/me/profile"), 401)
    assert_error(await client.get("/api/v1/users/me/profile/image"), 401)


async def test_declared_huge_body_is_refused_before_reading(
    client: httpx.AsyncClient, driver: Actor
) -> None:
    r = await client.put(
        "/api/v1/users/me/profile/image",
        content=b"x" * (MAX_UPLOAD_BYTES + 128 * 1024),
        headers={**driver.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(r, 413, "payload_too_large")


async def test_chunked_huge_body_is_cut_with_413(client: httpx.AsyncClient, driver: Actor) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(MAX_UPLOAD_BYTES // 1024 + 100):
            yield b"x" * 1024

    r = await client.put(
        "/api/v1/users/me/profile/image",
        content=chunks(),
        headers={**driver.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(r, 413, "payload_too_large")
