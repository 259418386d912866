"""Heartbeats (OCPP 1.6 §4.6, 2.0.1 G02): last_heartbeat moves forward, one row per message.

The payload plays no part (1.6 and 2.0.1 Heartbeat requests are both empty).

`chargepoint.last_heartbeat` is aggregated per batch: each heartbeat adds its receipt time to
the batch's `LastHeartbeats` step, and ONE upsert (built once, at import) writes the newest
time per charge point when the dispatcher flushes the batch, before it commits. A batch of
200 heartbeats is one statement for last-seen and one executemany for the `heartbeat` rows,
not 200 upserts. The chargepoint rows are already locked by the batch's `before_batch`
(services/registry/locking.py); the step writes them in id order all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.queries import chargepoint_table
from shared.chargepoints import initial_registration_status
from shared.db.models import Heartbeat
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.messages import GatewayHeartbeats
from shared.ocpp.v16.heartbeat_request import HeartbeatRequest as Heartbeat16
from shared.ocpp.v201.heartbeat_request import HeartbeatRequest as Heartbeat201

heartbeat_table: Table = Heartbeat.__table__  # type: ignore[assignment]

_insert = pg_insert(chargepoint_table)
UPSERT_LAST_HEARTBEAT = _insert.on_conflict_do_update(
    index_elements=["chargepoint_id"],
    set_={"last_heartbeat": _insert.excluded.last_heartbeat},
    # Heartbeats may be consumed out of order: last_heartbeat never moves back.
    where=or_(
        chargepoint_table.c.last_heartbeat.is_(None),
        chargepoint_table.c.last_heartbeat < _insert.excluded.last_heartbeat,
    ),
)
"""Executed with one parameter row per charge point (chargepoint_id, registration_status for
a charge point first seen by its heartbeat, last_heartbeat)."""

INSERT_HEARTBEATS = pg_insert(heartbeat_table).on_conflict_do_nothing()
"""The `heartbeat` rows (idempotent under redelivery), after the upsert: a charge point first
seen by its heartbeat exists by then (the rows reference it)."""


@dataclass
class LastHeartbeats:
    """A batch step (shared/dispatch.BatchStep): the newest heartbeat per charge point of the
    batch, written by one upsert at the end of the batch."""

    newest: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        chargepoint_id: str,
        received_at: datetime,
        registration_status: str,
        message_id: str | None,
    ) -> None:
        self.heartbeats.append(
            {"chargepoint_id": chargepoint_id, "timestamp": received_at, "message_id": message_id}
        )
        known = self.newest.get(chargepoint_id)
        if known is None or known[0] < received_at:
            self.newest[chargepoint_id] = (received_at, registration_status)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"chargepoint_id": cp, "registration_status": status, "last_heartbeat": at}
            for cp, (at, status) in sorted(self.newest.items())
        ]

    async def run(self, session: AsyncSession) -> None:
        if self.newest:
            await session.execute(UPSERT_LAST_HEARTBEAT, self.rows())
        if self.heartbeats:
            await session.execute(INSERT_HEARTBEATS, self.heartbeats)


async def record_heartbeat(
    ctx: HandlerContext, env: Envelope, req: Heartbeat16 | Heartbeat201
) -> None:
    """Record the heartbeat at its receipt time; the gateway answered currentTime itself."""
    received_at = env.created_at
    ctx.uow.step(LastHeartbeats).add(
        ctx.chargepoint_id,
        received_at,
        initial_registration_status(ctx.settings.unknown_chargepoints),
        env.correlation_id,
    )


async def record_gateway_heartbeats(
    ctx: HandlerContext, env: Envelope, req: GatewayHeartbeats
) -> None:
    """`gateway.heartbeats`: a gateway's flush of the newest heartbeat per charge point (it
    answered them itself, services/gateway/heartbeats.py). Into the same batch step as
    single heartbeats: one upsert of last-seen and one executemany of rows per batch."""
    status = initial_registration_status(ctx.settings.unknown_chargepoints)
    step = ctx.uow.step(LastHeartbeats)
    for beat in req.heartbeats:
        step.add(beat.chargepoint_id, beat.at, status, beat.message_id)
