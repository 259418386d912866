"""Security profiles 2 and 3 end to end: the gateway's own wss:// listener, client certificates
of a CA made in the test, the profile set through the REST API, upgrades stored only after the
station reconnects with them, lower connections refused and recorded as security events."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.exceptions import InvalidHandshake, InvalidStatus

from bench.stack import Stack
from services.gateway.auth import basic_authorization
from tests.e2e.conftest import StackPki
from tests.e2e.ocpp16_client import Client, connected
from tests.e2e.test_security_profile1 import provision
from tests.fixtures.pki import client_context, expired_leaf, make_ca, make_leaf
from tests.patience import wait_for_async

pytestmark = [pytest.mark.e2e]

PASSWORD = "AuthorizationKey-0123"


def tls(pki: StackPki, cp_id: str | None = None, *, issuer_ca: bool = True) -> ssl.SSLContext:
    """A charge point's TLS context: trusts the stack's CA; with `cp_id`, a certificate for it."""
    if cp_id is None:
        return client_context(pki.ca_file)
    issued = make_leaf(pki.ca if issuer_ca else make_ca("Rogue"), cp_id)
    return client_context(
        pki.ca_file, issued.write(pki.directory, f"cp-{issued.cert.serial_number}")
    )


async def status(url: str, cp_id: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connected(url, cp_id, **kwargs):  # type: ignore[arg-type]
            pass
    return info.value.response.status_code


async def profile_of(api: httpx.AsyncClient, cp_id: str) -> tuple[int, int | None]:
    body = (await api.get(f"/api/v1/chargepoints/{cp_id}")).json()
    return body["security_profile"], body["pending_security_profile"]


async def security_events(db_engine: AsyncEngine, cp_id: str) -> list[str]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(
            text("select type from security_event where chargepoint_id = :cp order by id"),
            {"cp": cp_id},
        )
        return [r.type for r in rows]


async def test_upgrade_to_profile_2_then_plain_ws_is_refused(
    stack: Stack, api: httpx.AsyncClient, stack_pki: StackPki, db_engine: AsyncEngine
) -> None:
    cp_id = "CP-SEC2-1"
    await provision(api, cp_id, PASSWORD)
    creds = {"Authorization": basic_authorization(cp_id, PASSWORD)}
    r = await api.patch(f"/api/v1/chargepoints/{cp_id}", json={"security_profile": 2})
    assert r.status_code == 200, r.text
    assert await profile_of(api, cp_id) == (1, 2)  # pending: profile 1 still let in
    async with connected(stack.ws_url, cp_id, headers=creds) as cp:
        assert (await cp.boot()).status == "Accepted"
    assert await profile_of(api, cp_id) == (1, 2)
    # The station comes back over TLS with its password: profile 2, stored.
    async with connected(stack.wss_url, cp_id, headers=creds, ssl=tls(stack_pki)) as cp:
        assert (await cp.boot()).status == "Accepted"
    await wait_for_async(lambda: profile_of(api, cp_id), (2, None))
    # Never downgraded: plain ws:// with the right password is refused now, and recorded.
    assert await status(stack.ws_url, cp_id, headers=creds) == 403
    r = await api.patch(f"/api/v1/chargepoints/{cp_id}", json={"security_profile": 1})
    assert r.status_code == 409
    assert await security_events(db_engine, cp_id) == [
        "ReconfigurationOfSecurityParameters",
        "FailedToAuthenticateAtCsms",
    ]


async def test_profile_3_client_certificates(
    stack: Stack, api: httpx.AsyncClient, stack_pki: StackPki, db_engine: AsyncEngine
) -> None:
    cp_id = "CP-SEC3-1"
    await provision(api, cp_id, None)
    r = await api.patch(f"/api/v1/chargepoints/{cp_id}", json={"security_profile": 3})
    assert r.status_code == 200, r.text
    async with connected(stack.wss_url, cp_id, ssl=tls(stack_pki, cp_id)) as cp:
        assert (await cp.boot()).status == "Accepted"
    await wait_for_async(lambda: profile_of(api, cp_id), (3, None))
    # Refused: no certificate (TLS only, or plain ws://), another station's certificate.
    assert await status(stack.wss_url, cp_id, ssl=tls(stack_pki)) == 403
    assert await status(stack.ws_url, cp_id) == 403
    assert await status(stack.wss_url, cp_id, ssl=tls(stack_pki, "CP-SEC3-OTHER")) == 403
    # Expired, or from an unknown CA: the TLS handshake fails.
    expired = client_context(
        stack_pki.ca_file, expired_leaf(stack_pki.ca, cp_id).write(stack_pki.directory, "exp")
    )
    for ctx in (expired, tls(stack_pki, cp_id, issuer_ca=False)):
        with pytest.raises((OSError, InvalidHandshake)) as info:
            async with connected(stack.wss_url, cp_id, ssl=ctx):
                pass
        assert not isinstance(info.value, InvalidStatus)
    # The refusals that reached the registry (no certificate) are security events, and so is
    # the gateway's own refusal of another station's certificate (published in the
    # background, after the 403: waited for). The failed handshakes never reach HTTP.
    await wait_for_async(
        lambda: security_events(db_engine, cp_id),
        [
            "ReconfigurationOfSecurityParameters",
            "FailedToAuthenticateAtCsms",
            "FailedToAuthenticateAtCsms",
            "InvalidChargingStationCertificate",
        ],
    )


class KeyTaker(Client):
    """A charge point that accepts a new AuthorizationKey and remembers it."""

    keys: list[str]

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> Any:
        if key == "AuthorizationKey":
            self.keys.append(value)
        return call_result.ChangeConfiguration(status="Accepted")


async def test_password_rotation_end_to_end(
    stack: Stack, api: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    cp_id = "CP-ROT-1"
    await provision(api, cp_id, PASSWORD)
    old = {"Authorization": basic_authorization(cp_id, PASSWORD)}
    KeyTaker.keys = []
    async with connected(stack.ws_url, cp_id, cls=KeyTaker, headers=old) as cp:
        assert (await cp.boot()).status == "Accepted"
        r = await api.post(f"/api/v1/chargepoints/{cp_id}/password-rotation")
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["pending"]) == ("Accepted", True)
    [key] = KeyTaker.keys
    assert key not in r.text
    new = {"Authorization": basic_authorization(cp_id, key)}
    # Until it reconnects with the new key, the old one still works.
    async with connected(stack.ws_url, cp_id, headers=old) as cp:
        assert (await cp.boot()).status == "Accepted"
    async with connected(stack.ws_url, cp_id, headers=new) as cp:
        assert (await cp.boot()).status == "Accepted"

    async def old_refused() -> int:
        try:
            async with connected(stack.ws_url, cp_id, headers=old):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    # The registry promotes the new key once it saw that connection: the old one is refused.
    await wait_for_async(old_refused, 401)
    async with connected(stack.ws_url, cp_id, headers=new) as cp:
        assert (await cp.boot()).status == "Accepted"
    assert "ReconfigurationOfSecurityParameters" in await security_events(db_engine, cp_id)
