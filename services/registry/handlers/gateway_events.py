"""Gateway housekeeping: connections of charge points and the frames the gateway refused.

Which connection holds a charge point: the gateway publishes `gateway.connected` when a
socket opens and `gateway.disconnected` when it closes, both naming the socket by its
`connection_id` (uuid4 hex) and `connected_at` (open time). A charge point reconnecting to
another node produces connected(new) before disconnected(old), because the old socket is
only noticed closed later; competing consumers and redeliveries reorder them further. The
charge point row keeps the connection it knows (`connection_id`, `connected_node`,
`connected_at`), and:

- a connect applies only if it is at least as new as the stored one (`connected_at` >=
  stored, or nothing stored) and is not the stored connection itself: a redelivered connect
  of a socket that was since replaced, or already closed, changes nothing. Equal times of two
  different sockets: the later consumed wins.
- a disconnect applies only to the stored connection (same `connection_id`). A disconnect of
  a connection NEWER than the stored one (its connect not consumed yet) records that
  connection as closed, so its late connect is ignored. A disconnect of an older one is
  ignored.
- rows with no `connected_at` (connected before migration 0002) fall back to the old rule:
  a disconnect applies if its `(remote_ip, remote_port)` is the stored address.

Security profile upgrades: a connect carries the profile the connection presented
(`security_profile`, the gateway's word); when it reaches the `pending_security_profile` set
through the API, that becomes the stored `security_profile` (from then on nothing lower is let
in) and a `ReconfigurationOfSecurityParameters` security event is recorded. Profiles only go
up, so the order of connects does not matter here. Password rotation likewise: a connect whose
`new_password` names the pending password hash (its SHA-256) makes it the password; the old
one is refused from then on.

The payloads are parsed by the dispatcher (shared/messages.py: `GatewayConnection`,
`GatewayFrameLog`); one that does not fit is dead-lettered before these handlers run.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.locking import take_locked
from services.registry.policy import clip
from services.registry.queries import chargepoint_table, clip_row
from services.registry.security_events import record_security_event
from shared.chargepoints import initial_registration_status
from shared.db import enums
from shared.db.models import OcppMessage
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.event_names import CHARGEPOINT_CONNECTED, CHARGEPOINT_DISCONNECTED
from shared.messagelog import CALL, CALLERROR
from shared.messages import GatewayConnection, GatewayFrameLog, GatewaySecurityEvent

log = logging.getLogger(__name__)

ocpp_message_table: Table = OcppMessage.__table__  # type: ignore[assignment]


def _length(column: str) -> int | None:
    length = getattr(chargepoint_table.c[column].type, "length", None)
    return length if isinstance(length, int) else None


@dataclass(frozen=True, slots=True)
class Connection:
    """A socket as a gateway event describes it."""

    connection_id: str | None
    connected_at: datetime | None
    node: str | None
    ip: str | None
    port: int | None

    @property
    def address(self) -> tuple[str | None, int | None]:
        return self.ip, self.port


@dataclass(frozen=True, slots=True)
class Stored:
    """What the chargepoint row knows of the connection holding it."""

    connected: bool
    connection_id: str | None
    connected_at: datetime | None
    ip: str | None
    port: int | None
    pending_security_profile: int | None = None
    """A profile set through the API, applied once a connection presents it (or more)."""


class Disconnect(Enum):
    """What a disconnect does to the stored connection."""

    CLOSE = "close"  # it is the stored connection: not connected any more
    CLOSE_NEWER = "close_newer"  # a newer connection, closed before its connect was consumed
    IGNORE = "ignore"  # an older (replaced) connection, or already closed


def connection_of(
    env: Envelope, req: GatewayConnection, *, default_time: datetime | None
) -> Connection:
    """The socket named by a `gateway.connected` / `gateway.disconnected` event."""
    node = req.node_id or env.node_id
    return Connection(
        connection_id=(
            clip(req.connection_id, _length("connection_id")) if req.connection_id else None
        ),
        connected_at=req.connected_at or default_time,
        node=clip(node, _length("connected_node")) if node else None,
        ip=clip(req.remote_ip, _length("ip_address")) if req.remote_ip else None,
        port=req.remote_port,
    )


def connect_applies(stored: Stored, incoming: Connection) -> bool:
    """Whether a connect replaces the stored connection (see the module docstring)."""
    if incoming.connection_id is not None and incoming.connection_id == stored.connection_id:
        return False  # this very socket was applied already (and may be closed since)
    if stored.connected_at is None or incoming.connected_at is None:
        return True
    return incoming.connected_at >= stored.connected_at


def disconnect_outcome(stored: Stored, incoming: Connection) -> Disconnect:
    """What a disconnect does (see the module docstring)."""
    if incoming.connection_id is not None and incoming.connection_id == stored.connection_id:
        return Disconnect.CLOSE if stored.connected else Disconnect.IGNORE
    if stored.connected_at is None or incoming.connection_id is None:
        # Nothing recorded since migration 0002 (or a gateway that names no connection):
        # the connection is known by its remote address only.
        if (
            stored.connected
            and stored.connection_id is None
            and ((stored.ip, stored.port) == incoming.address)
        ):
            return Disconnect.CLOSE
        return Disconnect.IGNORE
    if incoming.connected_at is not None and incoming.connected_at > stored.connected_at:
        return Disconnect.CLOSE_NEWER
    return Disconnect.IGNORE


_c = chargepoint_table.c
STORED_CONNECTION = (
    select(
        _c.connected,
        _c.connection_id,
        _c.connected_at,
        _c.ip_address,
        _c.websocket_port,
        _c.pending_security_profile,
    )
    .where(_c.chargepoint_id == bindparam("cp_id"))
    .with_for_update()
)
UPDATE_CONNECTION = update(chargepoint_table).where(_c.chargepoint_id == bindparam("cp_id"))
"""Built once, as the select above (every connect and disconnect runs them); the SET columns
are the execution's parameters besides `cp_id`."""
APPLY_PENDING_PROFILE = (
    update(chargepoint_table)
    .where(
        _c.chargepoint_id == bindparam("cp_id"),
        _c.pending_security_profile.is_not(None),
        _c.pending_security_profile <= bindparam("presented"),
    )
    .values(security_profile=_c.pending_security_profile, pending_security_profile=None)
    .returning(_c.security_profile)
)
"""Built once too; run only when the locked row shows a pending profile (rarely)."""
INSERT_CONNECTED = (
    pg_insert(chargepoint_table)
    .on_conflict_do_nothing(index_elements=["chargepoint_id"])
    .returning(_c.chargepoint_id)
)
"""A connect of an unknown charge point: its row, connected (nothing when it exists);
built once, the values are parameters (one compiled form per set of columns)."""


async def _stored(ctx: HandlerContext, chargepoint_id: str) -> Stored | None:
    row = (await ctx.session.execute(STORED_CONNECTION, {"cp_id": chargepoint_id})).one_or_none()
    return _stored_of(row)


def _stored_of(row: Any) -> Stored | None:
    if row is None:
        return None
    return Stored(
        connected=row.connected,
        connection_id=row.connection_id,
        connected_at=row.connected_at,
        ip=row.ip_address,
        port=row.websocket_port,
        pending_security_profile=row.pending_security_profile,
    )


def _connection_values(conn: Connection) -> dict[str, Any]:
    return {
        "ip_address": conn.ip,
        "websocket_port": conn.port,
        "connection_id": conn.connection_id,
        "connected_node": conn.node,
        "connected_at": conn.connected_at,
    }


def _event_payload(env: Envelope, req: GatewayConnection, conn: Connection) -> Payload:
    return {
        "ip": conn.ip,
        "port": conn.port,
        "nodeId": req.node_id or env.node_id,
        "subprotocol": req.subprotocol,
        "connectionId": req.connection_id,
        "connectedAt": req.connected_at.isoformat() if req.connected_at else None,
    }


async def connected(ctx: HandlerContext, env: Envelope, req: GatewayConnection) -> None:
    """A socket opened: connected, its address, connection and negotiated OCPP version."""
    chargepoint_id = ctx.chargepoint_id
    # An event without connected_at (older gateways) is ordered by its publication time.
    conn = connection_of(env, req, default_time=env.created_at)
    values: dict[str, Any] = {"connected": True, **_connection_values(conn)}
    subprotocol = req.subprotocol or env.ocpp_version
    if subprotocol in enums.OCPP_VERSIONS:
        values["ocpp_version"] = subprotocol
    locked = take_locked(ctx.session, chargepoint_id)
    if locked is not None:  # read and locked by the batch's lock_batch: it exists
        stored = _stored_of(locked)
    else:
        # Unknown until now (a first connect): created connected, in one statement. A new
        # row holds no pending profile nor password, and any connect applies to it.
        created = (
            await ctx.session.execute(
                INSERT_CONNECTED,
                {
                    "chargepoint_id": chargepoint_id,
                    "registration_status": initial_registration_status(
                        ctx.settings.unknown_chargepoints
                    ),
                    **values,
                },
            )
        ).first()
        if created is not None:
            ctx.emit(CHARGEPOINT_CONNECTED, _event_payload(env, req, conn), chargepoint_id)
            return
        stored = await _stored(ctx, chargepoint_id)  # it exists (created earlier in the batch)
    if stored is not None and stored.pending_security_profile is not None:
        # The row is locked (FOR UPDATE above): no profile can be set in between.
        await _apply_pending_profile(ctx, chargepoint_id, req.security_profile, conn)
    await _apply_new_password(ctx, chargepoint_id, req.new_password)
    if stored is None or not connect_applies(stored, conn):
        log.info(
            "ignoring connect of connection %s (opened %s): the charge point holds %s (opened %s)",
            conn.connection_id,
            conn.connected_at,
            stored.connection_id if stored else None,
            stored.connected_at if stored else None,
        )
        return
    await ctx.session.execute(UPDATE_CONNECTION, {"cp_id": chargepoint_id, **values})
    ctx.emit(CHARGEPOINT_CONNECTED, _event_payload(env, req, conn), chargepoint_id)


async def _apply_pending_profile(
    ctx: HandlerContext, chargepoint_id: str, presented: int | None, conn: Connection
) -> None:
    """Store the pending security profile once a connection presented it (or more)."""
    if presented is None:  # a gateway from before profiles
        return
    upgraded = (
        await ctx.session.execute(
            APPLY_PENDING_PROFILE, {"cp_id": chargepoint_id, "presented": presented}
        )
    ).scalar_one_or_none()
    if upgraded is not None:
        log.info("security profile of %s is now %s", chargepoint_id, upgraded)
        await record_security_event(
            ctx,
            chargepoint_id,
            "ReconfigurationOfSecurityParameters",
            f"security profile {upgraded}: the charge point connected with profile {presented}",
            remote_ip=conn.ip,
        )


async def _apply_new_password(
    ctx: HandlerContext, chargepoint_id: str, presented: str | None
) -> None:
    """A rotated password: once the station connected with it (`new_password`: the SHA-256
    of the pending hash the gateway verified), it is the only one; the old one is refused."""
    if presented is None:
        return
    c = chargepoint_table.c
    pending = (
        await ctx.session.execute(
            select(c.pending_password_hash).where(c.chargepoint_id == chargepoint_id)
        )
    ).scalar_one_or_none()
    if pending is None or hashlib.sha256(pending.encode("utf-8")).hexdigest() != presented:
        return  # rotated again since, or applied already
    await ctx.session.execute(
        update(chargepoint_table)
        .where(c.chargepoint_id == chargepoint_id)
        .values(password_hash=pending, pending_password_hash=None)
    )
    log.info("password of %s rotated: the charge point connected with the new one", chargepoint_id)
    await record_security_event(
        ctx,
        chargepoint_id,
        "ReconfigurationOfSecurityParameters",
        "password rotated: the charge point connected with the new password",
    )


async def disconnected(ctx: HandlerContext, env: Envelope, req: GatewayConnection) -> None:
    """A socket closed: not connected, if it is the connection the charge point is known by."""
    chargepoint_id = ctx.chargepoint_id
    # No fallback time: the envelope's own time is the close, not the open.
    conn = connection_of(env, req, default_time=None)
    locked = take_locked(ctx.session, chargepoint_id)
    stored = _stored_of(locked) if locked is not None else await _stored(ctx, chargepoint_id)
    if stored is None:
        return
    outcome = disconnect_outcome(stored, conn)
    if outcome is Disconnect.IGNORE:
        log.info(
            "ignoring disconnect of connection %s (%s:%s): the charge point holds %s (%s:%s)",
            conn.connection_id,
            conn.ip,
            conn.port,
            stored.connection_id,
            stored.ip,
            stored.port,
        )
        return
    # Either way the closed socket becomes the stored one: its late connect changes nothing.
    values = _connection_values(conn)
    if conn.connected_at is None:
        del values["connected_at"]  # keep the order of what is stored
    await ctx.session.execute(
        UPDATE_CONNECTION, {"cp_id": chargepoint_id, "connected": False, **values}
    )
    if stored.connected:
        ctx.emit(CHARGEPOINT_DISCONNECTED, _event_payload(env, req, conn), chargepoint_id)


def frame_log_key(env: Envelope, req: GatewayFrameLog) -> str:
    """The idempotency key of a frame-log event (it carries no correlation id).

    A redelivered envelope is the same bytes: same charge point, unique id, creation time
    and frame, hence the same key, and no second row.
    """
    material = orjson.dumps(
        [
            env.chargepoint_id,
            env.node_id,
            env.unique_id,
            env.created_at.isoformat(),
            req.model_dump(mode="json"),
        ],
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


async def frame_log(ctx: HandlerContext, env: Envelope, req: GatewayFrameLog) -> None:
    """A frame the gateway answered (or dropped) itself: one `ocpp_message` row each way."""
    key = frame_log_key(env, req)
    frame = req.frame
    parsed = _parse(frame)
    message_type = parsed[0] if parsed and parsed[0] in enums.MESSAGE_TYPES else CALL
    body: Any = parsed[3] if message_type == CALL and parsed and len(parsed) > 3 else None
    if not isinstance(body, dict):
        body = {"frame": frame, "truncated": req.truncated}
    direction = req.direction
    base = {
        "chargepoint_id": env.chargepoint_id or "",
        "unique_id": env.unique_id or "",
        "message_id": key,
        "action": req.action,
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
                "error_code": req.error_code,
                "error_description": req.error_description,
                "created_at": env.created_at,
            },
        ),
    )
    answer = _parse(req.answer)
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


async def security_event(ctx: HandlerContext, env: Envelope, req: GatewaySecurityEvent) -> None:
    """A refusal the gateway decided itself (a client certificate): a CSMS security event."""
    await record_security_event(
        ctx,
        ctx.chargepoint_id,
        req.type,
        req.tech_info,
        remote_ip=req.remote_ip,
        occurred_at=req.occurred_at,
    )
