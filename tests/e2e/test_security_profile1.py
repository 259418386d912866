"""Security profile 1 end to end: a password provisioned through the REST API, HTTP Basic auth
on the websocket upgrade checked by the gateway against the hash the registry answers."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from bench.stack import Stack
from services.gateway.auth import basic_authorization
from tests.e2e.ocpp16_client import connected

pytestmark = [pytest.mark.e2e]

CP = "CP-SEC1-1"
PASSWORD = "AuthorizationKey-0123"  # 16 to 40 characters


async def provision(api: httpx.AsyncClient, cp_id: str, password: str | None) -> None:
    loc = await api.post(
        "/api/v1/locations",
        json={
            "name": "Secure depot",
            "type": "parking_lot",
            "street_address": "1 Lock Street",
            "postal_code": "1000",
            "city": "Brussels",
            "country": "BE",
        },
    )
    assert loc.status_code == 201, loc.text
    body = {"chargepoint_id": cp_id, "location_id": loc.json()["uuid"]}
    if password is not None:
        body["password"] = password
    cp = await api.post("/api/v1/chargepoints", json=body)
    assert cp.status_code == 201, cp.text
    assert cp.json()["has_password"] is (password is not None)


async def refused(stack: Stack, cp_id: str, headers: dict[str, str] | None) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connected(stack.ws_url, cp_id, headers=headers):
            pass
    assert info.value.response.headers.get("WWW-Authenticate") == 'Basic realm="csms"'
    return info.value.response.status_code


async def test_password_is_required_and_checked(stack: Stack, api: httpx.AsyncClient) -> None:
    await provision(api, CP, PASSWORD)

    assert await refused(stack, CP, None) == 401
    assert (
        await refused(stack, CP, {"Authorization": basic_authorization(CP, PASSWORD + "x")}) == 401
    )
    # The right password under another identity is no good either.
    other = {"Authorization": basic_authorization("CP-SEC1-OTHER", PASSWORD)}
    assert await refused(stack, CP, other) == 401

    right = {"Authorization": basic_authorization(CP, PASSWORD)}
    async with connected(stack.ws_url, CP, headers=right) as cp:
        boot = await cp.boot()
        assert boot.status == "Accepted"


async def test_without_a_password_profile_0_still_connects(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    await provision(api, "CP-SEC0-1", None)
    async with connected(stack.ws_url, "CP-SEC0-1") as cp:
        assert (await cp.boot()).status == "Accepted"
