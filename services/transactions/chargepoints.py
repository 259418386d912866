"""The one write of the transactions service to the registry's table: the minimal row.

A charge point with no `chargepoint` row (it never booted and the registry has not consumed
any of its messages yet) must not lose its transaction to the foreign key: the minimal row is
inserted first (`ON CONFLICT DO NOTHING`), as the registry would create it
(services/transactions/README.md, *Single writer, one exception*). Used by 1.6
StartTransaction and 2.0.1 TransactionEvent.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db.models import ChargePoint
from shared.dispatch import HandlerContext
from shared.settings import UnknownChargePointPolicy

# The registration status an unknown charge point is created with: the same mapping as the
# registry's (services/registry/policy.py, CSMS_UNKNOWN_CHARGEPOINTS).
INITIAL_REGISTRATION_STATUS = {
    UnknownChargePointPolicy.PENDING: "Pending",
    UnknownChargePointPolicy.ACCEPT: "Accepted",
    UnknownChargePointPolicy.REJECT: "Rejected",
}


async def ensure_chargepoint(ctx: HandlerContext, chargepoint_id: str) -> None:
    """Create the minimal `chargepoint` row if the id was never seen (FK of `transaction`).

    Nothing else of the row is written here: the registry fills it from the charge point's
    boot and connection events, and an existing row is never touched.
    """
    await ctx.session.execute(
        pg_insert(ChargePoint)
        .values(
            chargepoint_id=chargepoint_id,
            registration_status=INITIAL_REGISTRATION_STATUS[ctx.settings.unknown_chargepoints],
        )
        .on_conflict_do_nothing(index_elements=["chargepoint_id"])
    )
