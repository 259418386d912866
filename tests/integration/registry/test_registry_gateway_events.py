"""gateway.connected / gateway.disconnected / gateway.frame_log through the Dispatcher."""

from __future__ import annotations

import orjson
import pytest

from shared.bus.topology import GATEWAY_CONNECTED, GATEWAY_DISCONNECTED, GATEWAY_FRAME_LOG
from shared.envelope import Envelope, Kind

from .helpers import RecordingPublisher, Run, Sql, connection_event

pytestmark = pytest.mark.integration


async def connection(sql: Sql, cp: str) -> dict[str, object]:
    [row] = await sql(
        "select connected, ip_address, websocket_port, ocpp_version from chargepoint"
        " where chargepoint_id = :cp",
        cp=cp,
    )
    return row


async def test_connect_then_disconnect(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await run([connection_event(cp, GATEWAY_CONNECTED, node="a", ip="10.0.0.1", port=50001)])
    assert await connection(sql, cp) == {
        "connected": True,
        "ip_address": "10.0.0.1",
        "websocket_port": 50001,
        "ocpp_version": "ocpp1.6",
    }
    [row] = await sql(
        "select registration_status from chargepoint where chargepoint_id = :cp", cp=cp
    )
    assert row["registration_status"] == "Pending"  # an unknown id, as the policy says
    await run([connection_event(cp, GATEWAY_DISCONNECTED, node="a", ip="10.0.0.1", port=50001)])
    assert (await connection(sql, cp))["connected"] is False
    assert [e.action for e in publisher.events] == [
        "chargepoint.connected",
        "chargepoint.disconnected",
    ]
    assert publisher.events[0].payload["nodeId"] == "a"
    # Housekeeping events are not OCPP frames: no message-log rows.
    assert await sql("select 1 from ocpp_message where chargepoint_id = :cp", cp=cp) == []


async def test_reconnect_to_another_node_survives_the_late_disconnect(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    """connected(new, node b) is consumed before disconnected(old, node a)."""
    await run([connection_event(cp, GATEWAY_CONNECTED, node="a", ip="10.0.0.1", port=50001)])
    await run([connection_event(cp, GATEWAY_CONNECTED, node="b", ip="10.0.0.1", port=50777)])
    await run([connection_event(cp, GATEWAY_DISCONNECTED, node="a", ip="10.0.0.1", port=50001)])
    assert await connection(sql, cp) == {
        "connected": True,
        "ip_address": "10.0.0.1",
        "websocket_port": 50777,
        "ocpp_version": "ocpp1.6",
    }
    assert publisher.named("chargepoint.disconnected") == []
    await run([connection_event(cp, GATEWAY_DISCONNECTED, node="b", ip="10.0.0.1", port=50777)])
    assert (await connection(sql, cp))["connected"] is False
    assert len(publisher.named("chargepoint.disconnected")) == 1


async def test_late_disconnect_in_the_same_batch(run: Run, sql: Sql, cp: str) -> None:
    await run(
        [
            connection_event(cp, GATEWAY_CONNECTED, node="a", ip="192.0.2.1", port=1000),
            connection_event(cp, GATEWAY_CONNECTED, node="b", ip="192.0.2.9", port=2000),
            connection_event(cp, GATEWAY_DISCONNECTED, node="a", ip="192.0.2.1", port=1000),
        ]
    )
    row = await connection(sql, cp)
    assert (row["connected"], row["ip_address"], row["websocket_port"]) == (True, "192.0.2.9", 2000)


async def test_disconnect_of_unknown_chargepoint_is_a_no_op(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await run([connection_event(cp, GATEWAY_DISCONNECTED, node="a", ip="10.0.0.1", port=1)])
    assert await sql("select 1 from chargepoint where chargepoint_id = :cp", cp=cp) == []
    assert publisher.events == []


async def test_ipv6_address_is_stored(run: Run, sql: Sql, cp: str) -> None:
    ip = "2001:db8:85a3:0:0:8a2e:370:7334"
    await run([connection_event(cp, GATEWAY_CONNECTED, node="a", ip=ip, port=443)])
    assert (await connection(sql, cp))["ip_address"] == ip


def frame_log(cp: str) -> Envelope:
    """What services/gateway/connection.py publishes for a refused CALL."""
    frame = orjson.dumps([2, "u-77", "StatusNotification", {"connectorId": "x"}]).decode()
    answer = orjson.dumps([4, "u-77", "TypeConstraintViolation", "connectorId", {}]).decode()
    return Envelope(
        kind=Kind.EVENT,
        action=GATEWAY_FRAME_LOG,
        chargepoint_id=cp,
        ocpp_version="ocpp1.6",
        unique_id="u-77",
        node_id="a",
        payload={
            "direction": "in",
            "action": "StatusNotification",
            "frame": frame,
            "truncated": False,
            "error_code": "TypeConstraintViolation",
            "error_description": "connectorId",
            "answer": answer,
        },
    )


async def test_frame_log_writes_the_message_log_once(run: Run, sql: Sql, cp: str) -> None:
    env = frame_log(cp)
    await run([env])
    await run([Envelope.from_bytes(env.to_bytes())])  # redelivered
    rows = await sql(
        "select direction, message_type, action, unique_id, payload, error_code"
        " from ocpp_message where chargepoint_id = :cp order by message_type",
        cp=cp,
    )
    assert rows == [
        {
            "direction": "in",
            "message_type": 2,
            "action": "StatusNotification",
            "unique_id": "u-77",
            "payload": {"connectorId": "x"},
            "error_code": "TypeConstraintViolation",
        },
        {
            "direction": "out",
            "message_type": 4,
            "action": "StatusNotification",
            "unique_id": "u-77",
            "payload": {},
            "error_code": "TypeConstraintViolation",
        },
    ]
