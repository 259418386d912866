"""Domain events that change a site's load: transactions, connector statuses, connections.

Each handler finds the charge point's location and recomputes it (services/charging/
sending.py: decide and commit, send, record); a charge point without a location, or a
location without a grid limit, is not balanced. Handlers are idempotent: a redelivered
event recomputes from the database and sends nothing when every installed limit is already
right. They use the service's own short transactions, never the batch session, so no
transaction is open while a charge point is waited on.
"""

from __future__ import annotations

import logging
import uuid

from services.charging.installer import Installer
from services.charging.sending import (
    Db,
    disconnected,
    rebalance,
    rebalance_chargepoint,
    reconnected,
)
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.messages import NoFields

log = logging.getLogger(__name__)


class EventHandlers:
    """Handlers bound to an `Installer` (the command sender) and the service's sessionmaker.

    Every event names its charge point (the dispatcher refuses one that does not: it could
    only come from a broken publisher); its payload is not read.
    """

    def __init__(self, installer: Installer, db: Db) -> None:
        self.installer = installer
        self.db = db

    async def _rebalance(self, ctx: HandlerContext, env: Envelope) -> None:
        await rebalance_chargepoint(
            self.db,
            self.installer,
            chargepoint_id=ctx.chargepoint_id,
            trigger=env.action,
            now=ctx.now,
        )

    async def _rebalance_location(
        self, ctx: HandlerContext, env: Envelope, location: uuid.UUID | None
    ) -> None:
        """Rebalance a location already read (nothing when the charge point has none)."""
        if location is not None:
            await rebalance(
                self.db,
                self.installer,
                location_uuid=location,
                trigger=env.action,
                now=ctx.now,
                chargepoint_id=ctx.chargepoint_id,
            )

    async def transaction_started(self, ctx: HandlerContext, env: Envelope, req: NoFields) -> None:
        """A session starts drawing: give it a share (or pause it)."""
        await self._rebalance(ctx, env)

    async def transaction_stopped(self, ctx: HandlerContext, env: Envelope, req: NoFields) -> None:
        """A session ended: its share goes to the others (its TxProfile ends with it)."""
        await self._rebalance(ctx, env)

    async def constraints_changed(self, ctx: HandlerContext, env: Envelope, req: NoFields) -> None:
        """An external limit or an EV's needs changed (handlers/v201.py): recompute."""
        await self._rebalance(ctx, env)

    async def connector_status_changed(
        self, ctx: HandlerContext, env: Envelope, req: NoFields
    ) -> None:
        """Charging, suspended or finishing: idle sessions keep only their minimum."""
        await self._rebalance(ctx, env)

    async def chargepoint_disconnected(
        self, ctx: HandlerContext, env: Envelope, req: NoFields
    ) -> None:
        """Offline: its share is freed; what it holds is unknown until it is back."""
        location = await disconnected(self.db, ctx.chargepoint_id)
        await self._rebalance_location(ctx, env, location)

    async def chargepoint_connected(
        self, ctx: HandlerContext, env: Envelope, req: NoFields
    ) -> None:
        """Back online: re-install its ChargePointMax / TxDefault profiles, then rebalance.

        OCPP 1.6 has no way to list the profiles a charge point holds (GetCompositeSchedule
        gives only their combination), and a SetChargingProfile with the same id replaces
        the profile (§5.16.2), so every such profile targeted at the charge point is sent
        again: cheap, idempotent, and right after a reset that lost them.
        """
        location = await reconnected(self.db, self.installer, ctx.chargepoint_id)
        await self._rebalance_location(ctx, env, location)
