"""The REST endpoints of the commands, through ASGI, a real broker and a fake gateway node."""

from __future__ import annotations

import uuid
from typing import Any, cast

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.app import API_PREFIX, create_app
from services.api.chargepoints.rotation import PASSWORD_BYTES
from services.api.commands.router import COMMAND_ID_HEADER
from services.charging import command_effects as charging_effects
from shared.bus import Bus
from shared.commands import COMMAND_COMPLETED
from shared.dispatch import Dispatcher, Router
from shared.envelope import Envelope
from shared.passwords import hash_password, verify_password
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher, Sql

from .conftest import EventTap, FakeGateway, Login, add_chargepoint

pytestmark = pytest.mark.integration


def url(cp: str, command: str) -> str:
    return f"{API_PREFIX}/chargepoints/{cp}/commands/{command}"


async def command_log(sql: Sql, command_id: str) -> dict[str, Any]:
    [row] = await sql("SELECT * FROM command_log WHERE id = :id", id=uuid.UUID(command_id))
    return row


async def test_openapi_lists_every_command(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    commands = {p.rsplit("/", 1)[1] for p in spec["paths"] if "/commands/" in p}
    # 19 of 1.6, 36 of 2.0.1, 14 paths shared by both.
    assert len(commands) == 46 and "remote-start-transaction" in commands
    assert "request-start-transaction" in commands
    body = spec["paths"][f"{API_PREFIX}/chargepoints/{{chargepoint_id}}/commands/reset"]["post"]
    assert body["requestBody"]["content"]["application/json"]["schema"] == {
        "anyOf": [
            {"$ref": "#/components/schemas/ResetRequest"},
            {"$ref": "#/components/schemas/ResetRequestV201"},
        ]
    }
    schemas = spec["components"]["schemas"]
    assert schemas["ResetRequest"]["required"] == ["type"]
    assert schemas["ResetRequestV201"]["properties"]["type"] == {
        "$ref": "#/components/schemas/ResetEnumType"
    }
    start = f"{API_PREFIX}/chargepoints/{{chargepoint_id}}/commands/request-start-transaction"
    assert spec["paths"][start]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RequestStartTransactionRequest"
    }
    assert set(schemas["RequestStartTransactionRequest"]["required"]) == {
        "id_token",
        "remote_start_id",
    }
    # Every body model and every model it refers to is in the document.
    refs = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs.add(ref.rsplit("/", 1)[1])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec)
    assert refs <= set(schemas)


async def test_200_with_snake_case_answer_and_log(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    events: EventTap,
    sql: Sql,
    cp: str,
) -> None:
    await add_chargepoint(sql, cp)
    await gateway.hold(
        cp,
        lambda env: env.result(
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
                ],
                "unknownKey": ["Foo"],
            }
        ),
    )
    headers, _ = await login("operator")
    response = await client.post(
        url(cp, "get-configuration"), json={"key": ["HeartbeatInterval", "Foo"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}],
        "unknown_key": ["Foo"],
    }
    assert gateway.received[-1].envelope.payload == {"key": ["HeartbeatInterval", "Foo"]}
    command_id = response.headers[COMMAND_ID_HEADER]
    row = await command_log(sql, command_id)
    assert row["chargepoint_id"] == cp and row["action"] == "GetConfiguration"
    assert row["outcome"] == "result" and row["completed_at"] is not None
    assert row["request"] == {"key": ["HeartbeatInterval", "Foo"]}
    assert row["response"]["unknownKey"] == ["Foo"]
    assert row["requested_by"].startswith("operator-")
    # The envelope and the event carry the command log id.
    assert gateway.received[-1].envelope.correlation_id == uuid.UUID(command_id).hex
    event = await events.next_for(uuid.UUID(command_id).hex)
    assert event.payload["action"] == "GetConfiguration"


async def test_body_is_sent_in_camel_case(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("admin")
    body = {
        "connector_id": 1,
        "cs_charging_profiles": {
            "charging_profile_id": 12,
            "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "valid_from": "2030-01-01T01:00:00+01:00",
            "charging_schedule": {
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 16.5}],
            },
        },
    }
    response = await client.post(url(cp, "set-charging-profile"), json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}
    assert gateway.received[-1].envelope.payload == {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 12,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "validFrom": "2030-01-01T00:00:00+00:00",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}],
            },
        },
    }
    # A command whose fields are all optional may be sent without a body.
    response = await client.post(url(cp, "clear-cache"), headers=headers)
    assert response.status_code == 200, response.text
    assert gateway.received[-1].envelope.payload == {}


async def test_409_not_connected(
    client: httpx.AsyncClient, login: Login, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    headers, _ = await login("operator")
    # Nobody holds the id: the unroutable publish says so at once. Waiting out the (generous)
    # command timeout instead would be a 504 `timeout`, not this.
    response = await client.post(url(cp, "reset"), json={"type": "Soft"}, headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_connected"
    row = await command_log(sql, response.headers[COMMAND_ID_HEADER])
    assert row["outcome"] == "offline"


async def test_502_call_error(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.error("NotSupported", "no firmware updates here"))
    headers, _ = await login("admin")
    response = await client.post(
        url(cp, "update-firmware"),
        json={
            "location": "https://fw.example.com/1.2.bin",
            "retrieve_date": "2030-01-01T00:00:00Z",
        },
        headers=headers,
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "call_error"
    assert error["call_error"] == {
        "code": "NotSupported",
        "description": "no firmware updates here",
        "details": {},
    }
    row = await command_log(sql, response.headers[COMMAND_ID_HEADER])
    assert (row["outcome"], row["error_code"], row["error_description"]) == (
        "error",
        "NotSupported",
        "no firmware updates here",
    )


async def test_504_timeout(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: None)
    headers, _ = await login("admin")
    response = await client.post(
        url(cp, "unlock-connector"),
        params={"timeout": 0.3},
        json={"connector_id": 1},
        headers=headers,
    )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"
    row = await command_log(sql, response.headers[COMMAND_ID_HEADER])
    assert row["outcome"] == "timeout"


async def test_422_invalid_body_is_not_sent(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("admin")
    for body in ({"type": "Warm"}, {}, {"type": "Soft", "extra": 1}, {"connectorId": 1}):
        response = await client.post(url(cp, "reset"), json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    response = await client.post(
        url(cp, "change-availability"),
        json={"connector_id": "1", "type": "Inoperative"},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.connector_id"
    assert gateway.received == []
    assert await sql("SELECT 1 FROM command_log WHERE chargepoint_id = :cp", cp=cp) == []


async def test_404_unknown_chargepoint(client: httpx.AsyncClient, login: Login, cp: str) -> None:
    headers, _ = await login("admin")
    response = await client.post(url(cp, "reset"), json={"type": "Soft"}, headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = await client.post(url(cp, "no-such-command"), json={}, headers=headers)
    assert response.status_code == 404


async def test_401_without_credentials(client: httpx.AsyncClient, cp: str) -> None:
    response = await client.post(url(cp, "reset"), json={"type": "Soft"})
    assert response.status_code == 401


async def test_driver(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, user_id = await login("driver")
    _, other_id = await login("driver")
    own, foreign = f"OWN{uuid.uuid4().hex[:8]}", f"OTH{uuid.uuid4().hex[:8]}"
    for tag, owner in ((own, user_id), (foreign, other_id)):
        await sql("INSERT INTO id_tag (id_token, user_id) VALUES (:t, :u)", t=tag, u=owner)

    # Only remote start / stop.
    response = await client.post(url(cp, "reset"), json={"type": "Soft"}, headers=headers)
    assert response.status_code == 403
    # Start with their own tag (case-insensitive, as OCPP's CiString), not another's.
    response = await client.post(
        url(cp, "remote-start-transaction"),
        json={"connector_id": 1, "id_tag": own.lower()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert gateway.received[-1].envelope.payload == {"connectorId": 1, "idTag": own.lower()}
    response = await client.post(
        url(cp, "remote-start-transaction"), json={"id_tag": foreign}, headers=headers
    )
    assert response.status_code == 403
    # Stop only their own transaction on this charge point.
    rows = await sql(
        "INSERT INTO transaction (chargepoint_id, connectorid, start_transaction_timestamp,"
        " wh_meter_start, wh_meter_last, id_tag, start_message_id)"
        " VALUES (:cp, 1, now(), 0, 0, :tag, :mid), (:cp, 2, now(), 0, 0, :other, :mid2)"
        " RETURNING transaction_id, id_tag",
        cp=cp,
        tag=own,
        other=foreign,
        mid=uuid.uuid4().hex,
        mid2=uuid.uuid4().hex,
    )
    ids = {r["id_tag"]: r["transaction_id"] for r in rows}
    response = await client.post(
        url(cp, "remote-stop-transaction"), json={"transaction_id": ids[own]}, headers=headers
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        url(cp, "remote-stop-transaction"), json={"transaction_id": ids[foreign]}, headers=headers
    )
    assert response.status_code == 403
    assert len(gateway.received) == 2


class CommitCheckingBus:
    """The app's bus; at each `command.completed` publish it reads the command log row on a
    connection of its own: what a consumer of the event would find."""

    def __init__(self, bus: Bus, sql: Sql) -> None:
        self.bus = bus
        self.sql = sql
        self.seen: list[dict[str, Any]] = []

    async def rpc(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        timeout: float,
        mandatory: bool = True,
    ) -> Envelope:
        return await self.bus.rpc(
            exchange, routing_key, envelope, timeout=timeout, mandatory=mandatory
        )

    async def publish(
        self, exchange: str, routing_key: str, envelope: Envelope, *, mandatory: bool = False
    ) -> None:
        if routing_key == COMMAND_COMPLETED:
            [row] = await self.sql(
                "SELECT outcome, seq FROM command_log WHERE id = :id",
                id=uuid.UUID(envelope.correlation_id or ""),
            )
            self.seen.append({**row, "event_seq": envelope.payload.get("seq")})
        await self.bus.publish(exchange, routing_key, envelope, mandatory=mandatory)


async def test_command_completed_is_published_after_the_outcome_is_committed(
    settings: Settings,
    db_engine: AsyncEngine,
    bus: Bus,
    login: Login,
    gateway: FakeGateway,
    events: EventTap,
    sql: Sql,
    cp: str,
) -> None:
    """The command log is the outbox: when `command.completed` goes out (confirmed), the
    outcome and its seq are already committed, so a consumer reading the log finds them."""
    checking = CommitCheckingBus(bus, sql)
    app = create_app(settings, engine=db_engine, bus=cast(Bus, checking))
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("operator")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for kind in ("Soft", "Hard"):
            response = await client.post(url(cp, "reset"), json={"type": kind}, headers=headers)
            assert response.status_code == 200, response.text
    assert checking.seen == [
        {"outcome": "result", "seq": 1, "event_seq": 1},
        {"outcome": "result", "seq": 2, "event_seq": 2},
    ]
    event = await events.next_for(uuid.UUID(response.headers[COMMAND_ID_HEADER]).hex)
    assert event.payload["seq"] == 2 and event.payload["request"] == {"type": "Hard"}


async def test_set_charging_profile_shows_in_charging_profiles(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    events: EventTap,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    sql: Sql,
    cp: str,
) -> None:
    """SetChargingProfile through the commands endpoint, Accepted: the charging service's
    effect consumer records the profile and its installation, and the API lists it."""
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("operator")
    profile_id = 3_000_000 + uuid.uuid4().int % 1_000_000_000
    body = {
        "connector_id": 1,
        "cs_charging_profiles": {
            "charging_profile_id": profile_id,
            "stack_level": 2,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": {
                "charging_rate_unit": "W",
                "start_schedule": "2025-03-01T00:00:00Z",
                "charging_schedule_period": [{"start_period": 0, "limit": 7400.0}],
            },
        },
    }
    response = await client.post(url(cp, "set-charging-profile"), json=body, headers=headers)
    assert response.status_code == 200, response.text
    event = await events.next_for(uuid.UUID(response.headers[COMMAND_ID_HEADER]).hex)
    charging = Dispatcher(
        router=Router(charging_effects.ROUTES),
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )
    assert await charging([FakeDelivery(event, event.action)]) == [None]
    listed = await client.get(
        f"{API_PREFIX}/charging-profiles", params={"chargepoint_id": cp}, headers=headers
    )
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["chargingprofile_id"], item["connector_id"], item["stack_level"]) == (
        profile_id,
        1,
        2,
    )
    detail = (
        await client.get(f"{API_PREFIX}/charging-profiles/{profile_id}", headers=headers)
    ).json()
    assert [
        (i["chargepoint_id"], i["connectorid"], i["status"]) for i in detail["installations"]
    ] == [(cp, 1, "Installed")]


async def test_authorization_key_is_not_logged(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("operator")
    secret = "NewAuthorizationKey-0123"
    response = await client.post(
        url(cp, "change-configuration"),
        json={"key": "AuthorizationKey", "value": secret},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    # The charge point gets the key; the command log never holds it.
    assert gateway.received[-1].envelope.payload["value"] == secret
    row = await command_log(sql, response.headers[COMMAND_ID_HEADER])
    assert row["request"] == {"key": "AuthorizationKey", "value": "<redacted>"}


# --- password rotation (services/api/chargepoints/rotation.py) ----------------------------------

OLD_HASH = hash_password("the-old-password-0123")


def rotation_url(cp: str) -> str:
    return f"/api/v1/chargepoints/{cp}/password-rotation"


async def provision_with_password(sql: Sql, cp: str, version: str = "ocpp1.6") -> None:
    await add_chargepoint(sql, cp)
    await sql(
        "update chargepoint set password_hash = :h, security_profile = 1, ocpp_version = :v "
        "where chargepoint_id = :cp",
        h=OLD_HASH,
        v=version,
        cp=cp,
    )


async def password_hashes(sql: Sql, cp: str) -> dict[str, Any]:
    [row] = await sql(
        "select password_hash, pending_password_hash from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    return row


async def test_accepted_key_is_stored_pending(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    sql: Sql,
    cp: str,
) -> None:
    await provision_with_password(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("operator")
    r = await client.post(rotation_url(cp), headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["action"], body["status"], body["pending"]) == (
        "ChangeConfiguration",
        "Accepted",
        True,
    )
    sent = gateway.received[-1].envelope.payload
    assert sent["key"] == "AuthorizationKey" and len(sent["value"]) == 2 * PASSWORD_BYTES
    password = sent["value"]
    assert password not in r.text
    row = await password_hashes(sql, cp)
    assert row["password_hash"] == OLD_HASH  # the old one stays until the station reconnects
    assert isinstance(row["pending_password_hash"], str)
    assert verify_password(password, row["pending_password_hash"])
    [log] = await sql(
        "select request from command_log where id = :id", id=r.headers[COMMAND_ID_HEADER]
    )
    assert log["request"] == {"key": "AuthorizationKey", "value": "<redacted>"}


async def test_ocpp201_uses_set_variables(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    sql: Sql,
    cp: str,
) -> None:
    await provision_with_password(sql, cp, "ocpp2.0.1")
    await gateway.hold(
        cp,
        lambda env: env.result(
            {
                "setVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            }
        ),
    )
    headers, _ = await login("operator")
    r = await client.post(rotation_url(cp), headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["pending"]) == ("SetVariables", True)
    [data] = gateway.received[-1].envelope.payload["setVariableData"]
    assert data["variable"] == {"name": "BasicAuthPassword"}
    assert verify_password(
        data["attributeValue"], (await password_hashes(sql, cp))["pending_password_hash"]
    )


async def test_rejected_or_no_password_stores_nothing(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    sql: Sql,
    cp: str,
) -> None:
    await provision_with_password(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Rejected"}))
    headers, _ = await login("operator")
    r = await client.post(rotation_url(cp), headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["pending"]) == ("Rejected", False)
    assert await password_hashes(sql, cp) == {
        "password_hash": OLD_HASH,
        "pending_password_hash": None,
    }
    await sql("update chargepoint set password_hash = null where chargepoint_id = :cp", cp=cp)
    assert (await client.post(rotation_url(cp), headers=headers)).status_code == 409
    driver, _ = await login("driver")
    assert (await client.post(rotation_url(cp), headers=driver)).status_code == 403


async def test_gateway_refusal_stores_nothing(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    sql: Sql,
    cp: str,
) -> None:
    # The charge point reconnected with 1.6 after the API read 2.0.1: the gateway does not
    # send the SetVariables, the API says so (409, as for commands) and keeps the old password.
    await provision_with_password(sql, cp, "ocpp2.0.1")
    await gateway.hold(
        cp,
        lambda env: env.error(
            "UnsupportedForVersion", "speaks 1.6", {"ocpp_version": "ocpp1.6"}, source="gateway"
        ),
    )
    headers, _ = await login("operator")
    r = await client.post(rotation_url(cp), headers=headers)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "unsupported_for_version"
    assert await password_hashes(sql, cp) == {
        "password_hash": OLD_HASH,
        "pending_password_hash": None,
    }
    [log] = await sql(
        "select outcome, ocpp_version from command_log where id = :id",
        id=r.headers[COMMAND_ID_HEADER],
    )
    assert (log["outcome"], log["ocpp_version"]) == ("refused", "ocpp2.0.1")
