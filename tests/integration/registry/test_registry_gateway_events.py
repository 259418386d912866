"""gateway.connected / gateway.disconnected / gateway.frame_log through the Dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.bus.topology import GATEWAY_CONNECTED, GATEWAY_DISCONNECTED, GATEWAY_FRAME_LOG
from shared.envelope import Envelope, Kind
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import closing, connection_event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def connection(sql: Sql, cp: str) -> dict[str, object]:
    [row] = await sql(
        "select connected, ip_address, websocket_port, ocpp_version from chargepoint"
        " where chargepoint_id = :cp",
        cp=cp,
    )
    return row


async def holder(sql: Sql, cp: str) -> tuple[object, ...]:
    """(connected, connection_id, connected_node, connected_at) of the charge point."""
    [row] = await sql(
        "select connected, connection_id, connected_node, connected_at from chargepoint"
        " where chargepoint_id = :cp",
        cp=cp,
    )
    return (row["connected"], row["connection_id"], row["connected_node"], row["connected_at"])


def connect(cp: str, node: str, ip: str, port: int, at: datetime) -> Envelope:
    return connection_event(cp, GATEWAY_CONNECTED, node=node, ip=ip, port=port, at=at)


def redelivered(env: Envelope) -> Envelope:
    return Envelope.from_bytes(env.to_bytes())


async def test_connect_then_disconnect(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    opened = connect(cp, "a", "10.0.0.1", 50001, T0)
    await run([opened])
    assert await connection(sql, cp) == {
        "connected": True,
        "ip_address": "10.0.0.1",
        "websocket_port": 50001,
        "ocpp_version": "ocpp1.6",
    }
    assert await holder(sql, cp) == (True, opened.payload["connection_id"], "a", T0)
    [row] = await sql(
        "select registration_status from chargepoint where chargepoint_id = :cp", cp=cp
    )
    assert row["registration_status"] == "Pending"  # an unknown id, as the policy says
    await run([closing(opened)])
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
    old = connect(cp, "a", "10.0.0.1", 50001, T0)
    new = connect(cp, "b", "10.0.0.1", 50777, T0 + timedelta(seconds=5))
    await run([old])
    await run([new])
    await run([closing(old)])
    assert await connection(sql, cp) == {
        "connected": True,
        "ip_address": "10.0.0.1",
        "websocket_port": 50777,
        "ocpp_version": "ocpp1.6",
    }
    assert await holder(sql, cp) == (
        True,
        new.payload["connection_id"],
        "b",
        T0 + timedelta(seconds=5),
    )
    assert publisher.named("chargepoint.disconnected") == []
    await run([closing(new)])
    assert (await connection(sql, cp))["connected"] is False
    assert len(publisher.named("chargepoint.disconnected")) == 1


async def test_late_disconnect_in_the_same_batch(run: Run, sql: Sql, cp: str) -> None:
    old = connect(cp, "a", "192.0.2.1", 1000, T0)
    new = connect(cp, "b", "192.0.2.9", 2000, T0 + timedelta(seconds=1))
    await run([old, new, closing(old)])
    row = await connection(sql, cp)
    assert (row["connected"], row["ip_address"], row["websocket_port"]) == (True, "192.0.2.9", 2000)


async def test_two_connections_from_the_same_address(run: Run, sql: Sql, cp: str) -> None:
    """Behind NAT (or a reused source port) the address does not tell sockets apart."""
    old = connect(cp, "a", "198.51.100.7", 40000, T0)
    new = connect(cp, "b", "198.51.100.7", 40000, T0 + timedelta(seconds=3))
    await run([old])
    await run([new])
    await run([closing(old)])
    assert await holder(sql, cp) == (
        True,
        new.payload["connection_id"],
        "b",
        T0 + timedelta(seconds=3),
    )
    await run([closing(new)])
    assert (await holder(sql, cp))[0] is False


async def test_stale_connect_redelivered_after_a_newer_one_is_ignored(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    old = connect(cp, "a", "10.0.0.1", 50001, T0)
    new = connect(cp, "b", "10.0.0.2", 50002, T0 + timedelta(seconds=5))
    await run([old])
    await run([new])
    await run([redelivered(old)])
    assert await holder(sql, cp) == (
        True,
        new.payload["connection_id"],
        "b",
        T0 + timedelta(seconds=5),
    )
    assert (await connection(sql, cp))["ip_address"] == "10.0.0.2"
    assert len(publisher.named("chargepoint.connected")) == 2
    # ... also when the stale one comes first in a batch with its replacement.
    cp2 = f"{cp}-2"
    first = connect(cp2, "a", "10.0.0.1", 1, T0 + timedelta(seconds=5))
    await run([first, connect(cp2, "b", "10.0.0.1", 2, T0)])
    assert (await holder(sql, cp2))[1] == first.payload["connection_id"]


async def test_connect_redelivered_after_its_own_disconnect_does_not_reopen(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    opened = connect(cp, "a", "10.0.0.1", 50001, T0)
    await run([opened])
    await run([closing(opened)])
    await run([redelivered(opened)])
    await run([redelivered(closing(opened))])
    assert (await holder(sql, cp))[:2] == (False, opened.payload["connection_id"])
    assert [e.action for e in publisher.events] == [
        "chargepoint.connected",
        "chargepoint.disconnected",
    ]


async def test_disconnect_consumed_before_its_connect(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    """A newer socket closes before its connect is consumed: it stays closed."""
    old = connect(cp, "a", "10.0.0.1", 50001, T0)
    new = connect(cp, "b", "10.0.0.2", 50002, T0 + timedelta(seconds=5))
    await run([old])
    await run([closing(new)])
    assert await holder(sql, cp) == (
        False,
        new.payload["connection_id"],
        "b",
        T0 + timedelta(seconds=5),
    )
    await run([new])  # its connect, late
    await run([closing(old)])  # and the replaced socket's close
    assert (await holder(sql, cp))[:2] == (False, new.payload["connection_id"])
    assert [e.action for e in publisher.events] == [
        "chargepoint.connected",
        "chargepoint.disconnected",
    ]


async def test_rows_connected_before_the_migration_use_the_address(
    run: Run, sql: Sql, cp: str
) -> None:
    """No connection_id / connected_at stored yet: the disconnect matches by address."""
    await sql(
        "insert into chargepoint (chargepoint_id, connected, ip_address, websocket_port)"
        " values (:cp, true, '10.0.0.1', 50001)",
        cp=cp,
    )
    await run([closing(connect(cp, "a", "10.0.0.9", 50009, T0))])  # another address
    assert (await holder(sql, cp))[0] is True
    legacy = connect(cp, "a", "10.0.0.1", 50001, T0)
    await run([closing(legacy)])
    assert await holder(sql, cp) == (False, legacy.payload["connection_id"], "a", T0)
    # Its late connect does not reopen it; a newer socket does.
    await run([redelivered(legacy)])
    assert (await holder(sql, cp))[0] is False
    await run([connect(cp, "b", "10.0.0.2", 50002, T0 + timedelta(seconds=1))])
    assert (await holder(sql, cp))[0] is True


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
