"""Profile commands the API asks of the charging service (RPC over `csms.events`).

`charging.install_profile` {chargingprofile_id}: send the stored profile to its target and
record the outcome; `charging.clear_profile` {chargingprofile_id}: clear it wherever it is
installed. Both answer `{"chargingprofile_id", "status", "outcome"}` after the transaction
that recorded the installation committed (services/charging/sending.py: no transaction is
open while the charge point is waited on).
"""

from __future__ import annotations

from services.charging.installer import Installer, outcome_label
from services.charging.sending import (
    Db,
    clear_profile,
    install_profile,
    load_profile,
    rebalance_chargepoint,
)
from shared.charging import INSTALL_PROFILE
from shared.db.models import ChargingProfile
from shared.dispatch import HandlerContext, OcppError, Payload
from shared.envelope import Envelope
from shared.messages import ProfileRequest


class ProfileHandlers:
    """Install / clear on the API's behalf."""

    def __init__(self, installer: Installer, db: Db) -> None:
        self.installer = installer
        self.db = db

    async def _profile(self, req: ProfileRequest) -> ChargingProfile | None:
        return await load_profile(self.db, req.chargingprofile_id)

    async def install(self, ctx: HandlerContext, env: Envelope, req: ProfileRequest) -> Payload:
        """Install the profile on its target, then rebalance its location (new limits)."""
        row = await self._profile(req)
        if row is None:
            raise OcppError("GenericError", f"charging profile {req.chargingprofile_id} not found")
        if row.chargepoint_id is None:
            return {"chargingprofile_id": row.chargingprofile_id, "status": "NoTarget"}
        done = await install_profile(self.db, self.installer, row)
        await rebalance_chargepoint(
            self.db,
            self.installer,
            chargepoint_id=row.chargepoint_id,
            trigger=INSTALL_PROFILE,
            now=ctx.now,
        )
        return {
            "chargingprofile_id": row.chargingprofile_id,
            "status": done.status,
            "outcome": outcome_label(done.outcome),
        }

    async def clear(self, ctx: HandlerContext, env: Envelope, req: ProfileRequest) -> Payload:
        """Clear the profile wherever it is installed or pending."""
        row = await self._profile(req)
        if row is None:
            raise OcppError("GenericError", f"charging profile {req.chargingprofile_id} not found")
        done = await clear_profile(self.db, self.installer, row)
        if done is None:
            return {"chargingprofile_id": row.chargingprofile_id, "status": "NotInstalled"}
        return {
            "chargingprofile_id": row.chargingprofile_id,
            "status": done.status,
            "outcome": outcome_label(done.outcome),
        }
