"""The commands endpoints for OCPP 2.0.1 charge points, through ASGI, a real broker and a fake
gateway node: routing by the negotiated version, 409 for the other version's commands and
bodies, the gateway's own refusals told apart from the charge point's answers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.api.commands.router import COMMAND_ID_HEADER
from shared.envelope import Envelope
from tests.factories import Sql

from .conftest import FakeGateway, Login, add_chargepoint
from .test_commands_api import command_log, url

pytestmark = pytest.mark.integration

V201 = "ocpp2.0.1"
START = {"id_token": {"id_token": "TAG-1", "type": "ISO14443"}, "remote_start_id": 9}


async def add_station(sql: Sql, cp: str, version: str = V201) -> None:
    await add_chargepoint(sql, cp)
    await sql(
        "UPDATE chargepoint SET ocpp_version = :v WHERE chargepoint_id = :cp", v=version, cp=cp
    )


async def test_201_station_gets_201_commands(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_station(sql, cp)
    await gateway.hold(
        cp,
        lambda env: env.result({"status": "Accepted", "statusInfo": {"reasonCode": "OK"}}),
    )
    headers, _ = await login("operator")
    response = await client.post(
        url(cp, "reset"), json={"type": "Immediate", "evse_id": 1}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted", "status_info": {"reason_code": "OK"}}
    sent = gateway.received[-1].envelope
    assert (sent.action, sent.payload, sent.ocpp_version) == (
        "Reset",
        {"type": "Immediate", "evseId": 1},
        V201,
    )
    row = await command_log(sql, response.headers[COMMAND_ID_HEADER])
    assert (row["action"], row["ocpp_version"], row["outcome"]) == ("Reset", V201, "result")
    # A 2.0.1-only command, nested camelCase names, an optional body.
    response = await client.post(url(cp, "request-start-transaction"), json=START, headers=headers)
    assert response.status_code == 200, response.text
    assert gateway.received[-1].envelope.payload == {
        "idToken": {"idToken": "TAG-1", "type": "ISO14443"},
        "remoteStartId": 9,
    }
    response = await client.post(url(cp, "get-transaction-status"), headers=headers)
    assert response.status_code == 200, response.text
    assert gateway.received[-1].envelope.payload == {}
    # DataTransfer's data is the vendor's: sent and answered as it is.
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted", "data": {"someKey": 1}}))
    response = await client.post(
        url(cp, "data-transfer"),
        json={"vendor_id": "V", "data": {"camelKey": [1, {"snake_key": 2}]}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted", "data": {"someKey": 1}}
    assert gateway.received[-1].envelope.payload == {
        "vendorId": "V",
        "data": {"camelKey": [1, {"snake_key": 2}]},
    }


@pytest.mark.parametrize(
    ("version", "command", "body", "equivalent"),
    [
        (V201, "remote-start-transaction", {"id_tag": "T"}, "request-start-transaction"),
        (V201, "remote-stop-transaction", {"transaction_id": 1}, "request-stop-transaction"),
        (V201, "change-configuration", {"key": "k", "value": "v"}, "set-variables"),
        (V201, "get-configuration", {}, "get-variables"),
        (V201, "get-diagnostics", {"location": "ftp://x/y"}, "get-log"),
        (V201, "reset", {"type": "Soft"}, None),  # a 1.6 body on a shared path
        (V201, "change-availability", {"connector_id": 1, "type": "Inoperative"}, None),
        ("ocpp1.6", "request-start-transaction", START, "remote-start-transaction"),
        (
            "ocpp1.6",
            "get-variables",
            {"get_variable_data": [{"component": {"name": "C"}, "variable": {"name": "V"}}]},
            "get-configuration",
        ),
        ("ocpp1.6", "reset", {"type": "OnIdle"}, None),
        ("ocpp1.6", "cost-updated", {"total_cost": 1.5, "transaction_id": "t"}, None),
    ],
)
async def test_409_unsupported_for_version_before_anything_is_sent(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    sql: Sql,
    cp: str,
    version: str,
    command: str,
    body: dict[str, Any],
    equivalent: str | None,
) -> None:
    await add_station(sql, cp, version)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("admin")
    response = await client.post(url(cp, command), json=body, headers=headers)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_for_version"
    if equivalent is not None:
        assert f"use {equivalent}" in error["message"]
        assert error["details"][0]["message"] == equivalent
    assert gateway.received == []
    assert await sql("SELECT 1 FROM command_log WHERE chargepoint_id = :cp", cp=cp) == []


async def test_422_names_the_field_of_the_versions_model(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_station(sql, cp)
    headers, _ = await login("admin")
    for body, field in (
        ({"type": "Sideways"}, "body.type"),
        ({"type": "Immediate", "evse_id": "1"}, "body.evse_id"),
        ({"type": "Immediate", "custom_data": {"vendor_id": "x"}}, "body.custom_data"),
    ):
        response = await client.post(url(cp, "reset"), json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["details"][0]["field"] == field
    response = await client.post(
        url(cp, "request-start-transaction"),
        json={"id_token": {"id_token": "T"}, "remote_start_id": 1},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.id_token.type"
    response = await client.post(
        url(cp, "reset"),
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    response = await client.post(
        url(cp, "reset"),
        content=b"\xc1\xff",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert gateway.received == []


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (
            lambda env: env.error(
                "RequestInvalid",
                "payload.type must be one of ...",
                {
                    "path": "payload.type",
                    "rule": "enum",
                    "ocpp_code": "PropertyConstraintViolation",
                },
                source="gateway",
            ),
            422,
            "refused_by_gateway",
        ),
        (
            lambda env: env.error("GatewayError", "boom", source="gateway"),
            502,
            "gateway_error",
        ),
        (
            lambda env: env.error(
                "AnswerInvalid", "the answer is invalid", {"payload": {}}, source="gateway"
            ),
            502,
            "invalid_answer",
        ),
        (
            lambda env: env.error(
                "UnsupportedForVersion", "speaks 1.6", {"ocpp_version": "ocpp1.6"}, source="gateway"
            ),
            409,
            "unsupported_for_version",
        ),
        # The charge point's own CALLERROR, whatever its code, is its answer.
        (
            lambda env: env.error("NotConnected", "odd but said", source="chargepoint"),
            502,
            "call_error",
        ),
    ],
)
async def test_gateway_errors_are_not_the_chargepoints_answer(
    client: httpx.AsyncClient,
    login: Login,
    gateway: FakeGateway,
    sql: Sql,
    cp: str,
    answer: Any,
    status: int,
    code: str,
) -> None:
    await add_station(sql, cp)
    await gateway.hold(cp, answer)
    headers, _ = await login("admin")
    response = await client.post(url(cp, "reset"), json={"type": "Immediate"}, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    row = await command_log(sql, response.headers[COMMAND_ID_HEADER])
    expected = (
        "refused"
        if code in ("refused_by_gateway", "gateway_error", "unsupported_for_version")
        else "error"
    )
    assert row["outcome"] == expected
    if code == "refused_by_gateway":
        assert error["details"] == [
            {"field": "body.type", "message": "enum", "type": "PropertyConstraintViolation"}
        ]
    if code == "call_error":
        assert error["call_error"]["code"] == "NotConnected"


async def test_driver_request_start_and_stop(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    await add_station(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, user_id = await login("driver")
    own = f"OWN{uuid.uuid4().hex[:8]}"
    await sql("INSERT INTO id_tag (id_token, user_id) VALUES (:t, :u)", t=own, u=user_id)
    mine = {"id_token": {"id_token": own.lower(), "type": "ISO14443"}, "remote_start_id": 1}
    response = await client.post(url(cp, "request-start-transaction"), json=mine, headers=headers)
    assert response.status_code == 200, response.text
    response = await client.post(url(cp, "request-start-transaction"), json=START, headers=headers)
    assert response.status_code == 403
    response = await client.post(url(cp, "reset"), json={"type": "Immediate"}, headers=headers)
    assert response.status_code == 403
    remote = f"tx-{uuid.uuid4().hex[:10]}"
    await sql(
        "INSERT INTO transaction (chargepoint_id, connectorid, start_transaction_timestamp,"
        " wh_meter_start, wh_meter_last, id_tag, remote_transaction_id, start_message_id)"
        " VALUES (:cp, 1, now(), 0, 0, :tag, :remote, :key)",
        cp=cp,
        tag=own,
        remote=remote,
        key=uuid.uuid4().hex,
    )
    stop = url(cp, "request-stop-transaction")
    response = await client.post(stop, json={"transaction_id": remote}, headers=headers)
    assert response.status_code == 200, response.text
    response = await client.post(stop, json={"transaction_id": "not-mine"}, headers=headers)
    assert response.status_code == 403


async def test_unknown_version_goes_by_the_body(
    client: httpx.AsyncClient, login: Login, gateway: FakeGateway, sql: Sql, cp: str
) -> None:
    """A charge point that never connected: the body tells the version (the gateway checks
    it against the connection when there is one)."""
    await add_chargepoint(sql, cp)
    await gateway.hold(cp, lambda env: env.result({"status": "Accepted"}))
    headers, _ = await login("admin")
    for body, version in (({"type": "Soft"}, "ocpp1.6"), ({"type": "OnIdle"}, V201)):
        response = await client.post(url(cp, "reset"), json=body, headers=headers)
        assert response.status_code == 200, response.text
        envelope: Envelope = gateway.received[-1].envelope
        assert envelope.ocpp_version == version
