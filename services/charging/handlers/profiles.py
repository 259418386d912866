"""Profile commands the API asks of the charging service (RPC over `csms.events`).

`charging.install_profile` {chargingprofile_id}: send the stored profile to its target and
record the outcome; `charging.clear_profile` {chargingprofile_id}: clear it wherever it is
installed. Both answer `{"chargingprofile_id", "status", "outcome"}` after the transaction
that recorded the installation committed.
"""

from __future__ import annotations

from services.charging.installer import Installer, outcome_label
from services.charging.loadmanager import location_of, rebalance
from shared.charging import INSTALL_PROFILE
from shared.db.models import ChargingProfile
from shared.dispatch import HandlerContext, OcppError, Payload
from shared.envelope import Envelope


class ProfileHandlers:
    """Install / clear on the API's behalf."""

    def __init__(self, installer: Installer) -> None:
        self.installer = installer

    async def _profile(self, ctx: HandlerContext, env: Envelope) -> ChargingProfile:
        try:
            profile_id = int(env.payload["chargingprofile_id"])
        except (KeyError, TypeError, ValueError):
            raise OcppError("FormationViolation", "chargingprofile_id missing") from None
        row = await ctx.session.get(ChargingProfile, profile_id)
        if row is None:
            raise OcppError("GenericError", f"charging profile {profile_id} not found")
        return row

    async def install(self, ctx: HandlerContext, env: Envelope) -> Payload:
        """Install the profile on its target, then rebalance its location (new limits)."""
        row = await self._profile(ctx, env)
        if row.chargepoint_id is None:
            return {"chargingprofile_id": row.chargingprofile_id, "status": "NoTarget"}
        done = await self.installer.install(ctx.session, row)
        location = await location_of(ctx.session, row.chargepoint_id)
        if location is not None:
            await rebalance(
                ctx.session,
                self.installer,
                location_uuid=location,
                trigger=INSTALL_PROFILE,
                now=ctx.now,
                chargepoint_id=row.chargepoint_id,
            )
        return {
            "chargingprofile_id": row.chargingprofile_id,
            "status": done.status,
            "outcome": outcome_label(done.outcome),
        }

    async def clear(self, ctx: HandlerContext, env: Envelope) -> Payload:
        """Clear the profile wherever it is installed or pending."""
        row = await self._profile(ctx, env)
        done = await self.installer.clear(ctx.session, row)
        if done is None:
            return {"chargingprofile_id": row.chargingprofile_id, "status": "NotInstalled"}
        return {
            "chargingprofile_id": row.chargingprofile_id,
            "status": done.status,
            "outcome": outcome_label(done.outcome),
        }
