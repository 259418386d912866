"""A registry batch takes its locks first, in one global order, so batches never deadlock.

Handlers lock rows as they go (`SELECT ... FOR UPDATE` of the charge point on a connect or
disconnect, of a connector on a status report, an upsert of a heartbeat), in delivery order.
Two consumers with the same charge points in opposite orders (a mass disconnect, a status
storm after a reconnect) then wait on each other and Postgres aborts one with a deadlock.
So before any handler runs, `lock_batch` takes, in one statement each:

1. a transaction advisory lock per charge point id of the batch, in key order: it stands
   for the charge point even before its row exists, so two batches that both create the
   same new charge points (a connect and a boot of an unknown id) cannot cross;
2. the existing `chargepoint` rows, `ORDER BY chargepoint_id`;
3. the `connector` rows of the charge points whose messages write connectors (status
   reports, command effects), `ORDER BY chargepoint_id, connectorid`.

The order is the database's (ORDER BY in SQL, not Python's sort: the collation orders the
ids). Charge points before connectors, as every service does (docs/internals.md). After
this, the handlers only take locks the batch already holds, or locks of new rows under the
charge point's advisory lock.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Integer, Row, String, Table, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.topology import (
    GATEWAY_AUTHENTICATE,
    GATEWAY_FRAME_LOG,
    GATEWAY_HEARTBEATS,
    GATEWAY_SECURITY_EVENT,
    upstream_key,
)
from shared.commands import COMMAND_COMPLETED, COMMAND_EFFECTS_DUE
from shared.db.models import ChargePoint, Connector
from shared.dispatch import DeliveryLike
from shared.ocpp import OCPP16, OCPP201

chargepoint_table: Table = ChargePoint.__table__  # type: ignore[assignment]
connector_table: Table = Connector.__table__  # type: ignore[assignment]

ADVISORY_NAMESPACE: Final = 0x43500001
"""First key of the two-key advisory locks on charge point ids ("CP" 1): apart from any
other advisory lock of the system."""

UNLOCKED: Final = frozenset(
    {
        GATEWAY_FRAME_LOG,
        GATEWAY_AUTHENTICATE,
        GATEWAY_SECURITY_EVENT,
        *(
            upstream_key(version, action)
            for version in (OCPP16, OCPP201)
            for action in ("DataTransfer", "SecurityEventNotification", "SignCertificate")
        ),
        upstream_key(OCPP201, "NotifyEvent"),
        upstream_key(OCPP201, "GetCertificateStatus"),
        upstream_key(OCPP201, "Get15118EVCertificate"),
    }
)
"""Messages that lock no charge point or connector row (they write the message log, their own
rows, or only read): they must not wait for, nor hold up, the batches that do."""

CONNECTOR_WRITERS: Final = frozenset(
    {
        upstream_key(OCPP16, "StatusNotification"),
        upstream_key(OCPP201, "StatusNotification"),
        COMMAND_COMPLETED,
        COMMAND_EFFECTS_DUE,
    }
)
"""Messages whose handlers write connector rows."""

_ADVISORY = text(
    "SELECT pg_advisory_xact_lock(:namespace, k) FROM unnest(CAST(:keys AS integer[])) AS k"
).bindparams(bindparam("keys", type_=ARRAY(Integer)))


def advisory_key(chargepoint_id: str) -> int:
    """A charge point id's advisory lock key (signed 32 bits; a collision only serializes)."""
    value = zlib.crc32(chargepoint_id.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def chargepoint_ids(deliveries: Sequence[DeliveryLike]) -> tuple[list[str], list[str]]:
    """(every charge point id the batch writes, those whose connectors it writes)."""
    every: set[str] = set()
    connectors: set[str] = set()
    for delivery in deliveries:
        if delivery.routing_key == GATEWAY_HEARTBEATS:
            # A gateway's flush names many charge points (its payload is checked by the
            # route's model; a malformed entry is left to it).
            beats = delivery.envelope.payload.get("heartbeats")
            if isinstance(beats, list):
                every.update(
                    b["chargepoint_id"]
                    for b in beats
                    if isinstance(b, dict) and isinstance(b.get("chargepoint_id"), str)
                )
            continue
        chargepoint_id = delivery.envelope.chargepoint_id
        if not chargepoint_id or delivery.routing_key in UNLOCKED:
            continue
        every.add(chargepoint_id)
        if delivery.routing_key in CONNECTOR_WRITERS:
            connectors.add(chargepoint_id)
    return sorted(every), sorted(connectors)


_cp = chargepoint_table.c
LOCK_CHARGEPOINTS = (
    select(
        _cp.chargepoint_id,
        _cp.connected,
        _cp.connection_id,
        _cp.connected_at,
        _cp.ip_address,
        _cp.websocket_port,
        _cp.pending_security_profile,
    )
    .where(_cp.chargepoint_id == any_(bindparam("ids", type_=ARRAY(String()))))
    .order_by(_cp.chargepoint_id)
    .with_for_update()
)
"""The batch's existing charge point rows, locked, with what a connect or disconnect reads of
them (`LOCKED_CHARGEPOINTS`); built once, an array parameter (an IN list is compiled anew
for every batch)."""
_c = connector_table.c
LOCK_CONNECTORS = (
    select(_c.uuid)
    .where(_c.chargepoint_id == any_(bindparam("ids", type_=ARRAY(String()))))
    .order_by(_c.chargepoint_id, _c.connectorid)
    .with_for_update()
)

LOCKED_CHARGEPOINTS: Final = "registry.locked_chargepoints"
"""`session.info` key: charge point id -> its row as `LOCK_CHARGEPOINTS` read it (locked, so
it exists and nothing outside the batch changes it until the commit). The connection
handlers (handlers/gateway_events.py) take a row out (`take_locked`) instead of inserting the
unknown charge point and selecting it again; the next one of the same charge point in the
batch reads the database (the first may have changed the row)."""


def take_locked(session: AsyncSession, chargepoint_id: str) -> Row[Any] | None:
    """The charge point's row as the batch's lock read it, once (None: read it yourself)."""
    locked: dict[str, Row[Any]] | None = session.info.get(LOCKED_CHARGEPOINTS)
    return locked.pop(chargepoint_id, None) if locked is not None else None


async def lock_batch(session: AsyncSession, deliveries: Sequence[DeliveryLike]) -> None:
    """Take the batch's locks in the global order (see the module docstring)."""
    every, connectors = chargepoint_ids(deliveries)
    if not every:
        return
    keys = sorted({advisory_key(i) for i in every})
    # unnest yields the sorted array in order, and each row's lock is taken as it comes.
    await session.execute(_ADVISORY, {"namespace": ADVISORY_NAMESPACE, "keys": keys})
    rows = await session.execute(LOCK_CHARGEPOINTS, {"ids": every})
    session.info[LOCKED_CHARGEPOINTS] = {row.chargepoint_id: row for row in rows}
    if connectors:
        await session.execute(LOCK_CONNECTORS, {"ids": connectors})
