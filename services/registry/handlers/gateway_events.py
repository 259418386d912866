"""Gateway housekeeping: connections of charge points and the frames the gateway refused.

Which connection holds a charge point: the gateway publishes `gateway.connected` when a
socket opens and `gateway.disconnected` when it closes; a charge point reconnecting to
another node produces connected(new) before disconnected(old), because the old socket is
only noticed closed later. The chargepoint table has no column naming the current
connection, so the connection is identified by its remote address: a disconnect applies
only if `(remote_ip, remote_port)` is the address stored by the last connect. A new TCP
connection has a new source port, so a late disconnect of the replaced socket is ignored.
A connect always applies (the last consumed wins): connects of one charge point are seconds
apart, far more than consumers reorder messages.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson
from sqlalchemy import Table, select, update

from services.registry.policy import clip
from services.registry.queries import (
    chargepoint_id_of,
    chargepoint_table,
    clip_row,
    ensure_chargepoint,
)
from shared.db import enums
from shared.db.models import OcppMessage
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.messagelog import CALL, CALLERROR

log = logging.getLogger(__name__)

ocpp_message_table: Table = OcppMessage.__table__  # type: ignore[assignment]


def _address(payload: dict[str, Any]) -> tuple[str | None, int | None]:
    ip = payload.get("remote_ip")
    port = payload.get("remote_port")
    return (
        clip(ip, chargepoint_table.c.ip_address.type.length) if ip else None,  # type: ignore[attr-defined]
        port if isinstance(port, int) and not isinstance(port, bool) else None,
    )


def _event_payload(env: Envelope, ip: str | None, port: int | None) -> Payload:
    return {
        "ip": ip,
        "port": port,
        "nodeId": env.payload.get("node_id", env.node_id),
        "subprotocol": env.payload.get("subprotocol"),
        "connectionId": env.payload.get("connection_id"),
        "connectedAt": env.payload.get("connected_at"),
    }


async def connected(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """A socket opened: connected, its address and the negotiated OCPP version."""
    chargepoint_id = chargepoint_id_of(env)
    ip, port = _address(env.payload)
    await ensure_chargepoint(ctx, chargepoint_id)
    values: dict[str, Any] = {"connected": True, "ip_address": ip, "websocket_port": port}
    subprotocol = env.payload.get("subprotocol") or env.ocpp_version
    if subprotocol in enums.OCPP_VERSIONS:
        values["ocpp_version"] = subprotocol
    await ctx.session.execute(
        update(chargepoint_table)
        .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
        .values(values)
    )
    ctx.emit("chargepoint.connected", _event_payload(env, ip, port), chargepoint_id)
    return None


async def disconnected(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """A socket closed: not connected, if it is the connection the charge point is known by."""
    chargepoint_id = chargepoint_id_of(env)
    ip, port = _address(env.payload)
    current = (
        await ctx.session.execute(
            select(
                chargepoint_table.c.connected,
                chargepoint_table.c.ip_address,
                chargepoint_table.c.websocket_port,
            )
            .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
            .with_for_update()
        )
    ).one_or_none()
    if current is None or not current.connected:
        return None
    if (current.ip_address, current.websocket_port) != (ip, port):
        log.info(
            "ignoring disconnect of %s:%s: the charge point is connected from %s:%s",
            ip,
            port,
            current.ip_address,
            current.websocket_port,
        )
        return None
    await ctx.session.execute(
        update(chargepoint_table)
        .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
        .values(connected=False)
    )
    ctx.emit("chargepoint.disconnected", _event_payload(env, ip, port), chargepoint_id)
    return None


def frame_log_key(env: Envelope) -> str:
    """The idempotency key of a frame-log event (it carries no correlation id).

    A redelivered envelope is the same bytes: same charge point, unique id, creation time
    and frame, hence the same key, and no second row.
    """
    material = orjson.dumps(
        [env.chargepoint_id, env.node_id, env.unique_id, env.created_at.isoformat(), env.payload],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(material).hexdigest()


def _parse(frame: object) -> list[Any] | None:
    if not isinstance(frame, str):
        return None
    try:
        parsed = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, list) else None


async def frame_log(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """A frame the gateway answered (or dropped) itself: one `ocpp_message` row each way."""
    payload = env.payload
    key = frame_log_key(env)
    frame = payload.get("frame")
    parsed = _parse(frame)
    message_type = parsed[0] if parsed and parsed[0] in enums.MESSAGE_TYPES else CALL
    body: Any = parsed[3] if message_type == CALL and parsed and len(parsed) > 3 else None
    if not isinstance(body, dict):
        body = {"frame": frame, "truncated": bool(payload.get("truncated"))}
    direction = payload.get("direction")
    base = {
        "chargepoint_id": env.chargepoint_id or "",
        "unique_id": env.unique_id or "",
        "message_id": key,
        "action": payload.get("action"),
    }
    ctx.uow.add(
        ocpp_message_table,
        clip_row(
            ocpp_message_table,
            {
                **base,
                "direction": direction if direction in enums.DIRECTIONS else "in",
                "message_type": message_type,
                "payload": body,
                "error_code": payload.get("error_code"),
                "error_description": payload.get("error_description"),
                "created_at": env.created_at,
            },
        ),
    )
    answer = _parse(payload.get("answer"))
    if answer and answer[0] == CALLERROR and len(answer) >= 4:
        details = answer[4] if len(answer) > 4 and isinstance(answer[4], dict) else {}
        ctx.uow.add(
            ocpp_message_table,
            clip_row(
                ocpp_message_table,
                {
                    **base,
                    "direction": "out",
                    "message_type": CALLERROR,
                    "payload": details,
                    "error_code": answer[2],
                    "error_description": answer[3],
                    "created_at": env.created_at,
                },
            ),
        )
    return None
