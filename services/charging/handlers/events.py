"""Domain events that change a site's load: transactions, connector statuses, connections.

Each handler finds the charge point's location and recomputes it (services/charging/
loadmanager.py); a charge point without a location, or a location without a grid limit, is
not balanced. Handlers are idempotent: a redelivered event recomputes from the database and
sends nothing when every installed limit is already right.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from services.charging.installer import Installer
from services.charging.loadmanager import location_of, rebalance
from shared.charging.schedule import CHARGE_POINT_MAX, TX_DEFAULT
from shared.db.models import BalancingAllocation, ChargingProfile
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope

log = logging.getLogger(__name__)


class EventHandlers:
    """Handlers bound to an `Installer` (the command sender is injected through it)."""

    def __init__(self, installer: Installer) -> None:
        self.installer = installer

    async def _rebalance(self, ctx: HandlerContext, env: Envelope) -> None:
        chargepoint_id = env.chargepoint_id
        if not chargepoint_id:
            log.warning("%s without a charge point id: ignored", env.action)
            return
        location = await location_of(ctx.session, chargepoint_id)
        if location is None:
            return
        await rebalance(
            ctx.session,
            self.installer,
            location_uuid=location,
            trigger=env.action,
            now=ctx.now,
            chargepoint_id=chargepoint_id,
        )

    async def transaction_started(self, ctx: HandlerContext, env: Envelope) -> Payload | None:
        """A session starts drawing: give it a share (or pause it)."""
        await self._rebalance(ctx, env)
        return None

    async def transaction_stopped(self, ctx: HandlerContext, env: Envelope) -> Payload | None:
        """A session ended: its share goes to the others (its TxProfile ends with it)."""
        await self._rebalance(ctx, env)
        return None

    async def connector_status_changed(self, ctx: HandlerContext, env: Envelope) -> Payload | None:
        """Charging, suspended or finishing: idle sessions keep only their minimum."""
        await self._rebalance(ctx, env)
        return None

    async def chargepoint_disconnected(self, ctx: HandlerContext, env: Envelope) -> Payload | None:
        """Offline: its share is freed; what it holds is unknown until it is back."""
        if env.chargepoint_id:
            await ctx.session.execute(
                update(BalancingAllocation)
                .where(BalancingAllocation.chargepoint_id == env.chargepoint_id)
                .values(installed_limit=None, status="Pending")
            )
        await self._rebalance(ctx, env)
        return None

    async def chargepoint_connected(self, ctx: HandlerContext, env: Envelope) -> Payload | None:
        """Back online: re-install its ChargePointMax / TxDefault profiles, then rebalance.

        OCPP 1.6 has no way to list the profiles a charge point holds (GetCompositeSchedule
        gives only their combination), and a SetChargingProfile with the same id replaces
        the profile (§5.16.2), so every such profile targeted at the charge point is sent
        again: cheap, idempotent, and right after a reset that lost them.
        """
        chargepoint_id = env.chargepoint_id
        if not chargepoint_id:
            return None
        rows = await ctx.session.scalars(
            select(ChargingProfile)
            .where(
                ChargingProfile.chargepoint_id == chargepoint_id,
                ChargingProfile.chargingprofile_purpose.in_((CHARGE_POINT_MAX, TX_DEFAULT)),
            )
            .order_by(ChargingProfile.chargingprofile_id)
        )
        for row in list(rows):
            await self.installer.install(ctx.session, row)
        await ctx.session.execute(
            update(BalancingAllocation)
            .where(BalancingAllocation.chargepoint_id == chargepoint_id)
            .values(installed_limit=None, status="Pending")
        )
        await self._rebalance(ctx, env)
        return None
