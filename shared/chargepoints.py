"""The `chargepoint` row a consumer may create: an id seen before any registration.

Many charge points do not boot again on a reconnect, and an unknown one may report status,
or start a transaction, before its boot: the facts it reports reference its row (foreign
keys), so the registry, and the transactions service for its transactions (its one write to
the registry's table, services/transactions/README.md), create the minimal row first, with
the registration status CSMS_UNKNOWN_CHARGEPOINTS says. Nothing else of an existing row is
touched here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.db.models import ChargePoint
from shared.settings import UnknownChargePointPolicy

if TYPE_CHECKING:
    from shared.dispatch import HandlerContext

ACCEPTED: Final = "Accepted"
PENDING: Final = "Pending"
REJECTED: Final = "Rejected"
"""The registration statuses (BootNotification answers, `chargepoint.registration_status`)."""

chargepoint_table: Table = ChargePoint.__table__  # type: ignore[assignment]

_INITIAL_STATUS: Final = {
    UnknownChargePointPolicy.PENDING: PENDING,
    UnknownChargePointPolicy.ACCEPT: ACCEPTED,
    UnknownChargePointPolicy.REJECT: REJECTED,
}


def initial_registration_status(policy: UnknownChargePointPolicy) -> str:
    """The registration_status a charge point nobody provisioned is created with.

    Under `reject` the row is still created (as Rejected) so that operators see who knocks
    and can accept it through the API; it is answered Rejected until then.
    """
    return _INITIAL_STATUS[policy]


async def create_chargepoint_if_unknown(ctx: HandlerContext, chargepoint_id: str) -> None:
    """Insert the minimal row of `chargepoint_id` unless it exists (ON CONFLICT DO NOTHING),
    on the handler's session, with the status `ctx.settings.unknown_chargepoints` says."""
    await ctx.session.execute(
        pg_insert(chargepoint_table)
        .values(
            chargepoint_id=chargepoint_id,
            registration_status=initial_registration_status(ctx.settings.unknown_chargepoints),
        )
        .on_conflict_do_nothing(index_elements=["chargepoint_id"])
    )
