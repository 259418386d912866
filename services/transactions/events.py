"""The registry's events that tell an open transaction has ended on the charge point side.

The registry owns connectors and boots; it publishes `connector.status_changed` and
`chargepoint.booted` after commit, and this service consumes them (services never import
each other). They only *mark* open transactions; the sweep (sweeper.py) closes those still
marked after CSMS_STALE_TRANSACTION_GRACE, giving the charge point's own StopTransaction
time to arrive first (closing.py):

- `connector.status_changed` **Available**: the connector has no transaction on the charge
  point side (OCPP 1.6 §4.9 Available: "Connector is not involved in a transaction"; after a
  normal end it passes Finishing, then Available). Open transactions of that connector that
  started before the report get `idle_since` = when the registry applied it. Charging,
  SuspendedEV, SuspendedEVSE (2.0.1 Occupied) show a session running: `idle_since` is
  cleared. Other statuses (Preparing, Finishing, Reserved, Unavailable, Faulted) leave it.
- `chargepoint.booted`: the charge point rebooted, so what was open on it ended with the
  reboot unless the charger says otherwise. OCPP 1.6 §5.14 (hard reset): "If possible the
  Charge Point sends a StopTransaction.req for previously ongoing transactions after having
  restarted and having been accepted by the Central System via a BootNotification.conf" —
  a charger may resend the Stop from its queue, or may not. The spec-faithful rule: the boot
  alone closes nothing; it marks the charge point's open transactions `rebooted_at`, and
  the charger's own report decides: its Stop (normal stop), a status showing the session
  running (kept open), or Available (closed as `Rebooted` after the grace). A connector the
  registry already shows Available gets no status change (so no event) when the charger
  reports Available again after the boot: it is marked idle at the boot.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, select, update

from services.transactions.locks import OPEN_CHARGEPOINTS
from services.transactions.tables import TRANSACTION
from shared.db.enums import TX_ACTIVE
from shared.db.models import Connector
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.messages import ConnectorStatusChanged, NoFields

log = logging.getLogger(__name__)

AVAILABLE = "Available"
# 1.6 ChargePointStatus / 2.0.1 ConnectorStatusEnumType values that show a session running.
RUNNING = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Occupied"})

t = TRANSACTION.c

# `chargepoint.booted`'s two statements, built once (a boot storm runs them per station;
# building them cost more CPU than running them). Parameters: cp, booted_at, now.
_OPEN_BEFORE_BOOT = (
    (t.chargepoint_id == bindparam("cp"))
    & (t.status == TX_ACTIVE)
    & (t.created_at < bindparam("booted_at"))
)
MARK_REBOOTED = (
    update(TRANSACTION)
    .where(_OPEN_BEFORE_BOOT, t.rebooted_at.is_(None))
    .values(rebooted_at=bindparam("booted_at"), updated_at=bindparam("now"))
    .returning(t.transaction_id)
)
MARK_IDLE_AT_BOOT = (
    update(TRANSACTION)
    .where(
        _OPEN_BEFORE_BOOT,
        t.idle_since.is_(None),
        t.connectorid.in_(
            select(Connector.connectorid).where(
                Connector.chargepoint_id == bindparam("cp"),
                Connector.connector_status == AVAILABLE,
            )
        ),
    )
    .values(idle_since=bindparam("booted_at"), updated_at=bindparam("now"))
)


async def connector_status_changed(
    ctx: HandlerContext, env: Envelope, req: ConnectorStatusChanged
) -> None:
    """Available marks the connector's open transactions idle; a running status unmarks."""
    chargepoint_id, connector_id, status = ctx.chargepoint_id, req.connector_id, req.status
    if connector_id <= 0:
        return
    reported = req.reported_at(env.created_at)
    where = (
        (t.chargepoint_id == chargepoint_id)
        & (t.connectorid == connector_id)
        & (t.status == TX_ACTIVE)
        # A report older than the transaction says nothing about it.
        & (t.start_transaction_timestamp <= reported)
    )
    if status == AVAILABLE:
        await ctx.session.execute(
            update(TRANSACTION)
            .where(where, t.idle_since.is_(None))
            .values(idle_since=env.created_at, updated_at=ctx.now)
        )
    elif status in RUNNING:
        await ctx.session.execute(
            update(TRANSACTION)
            .where(where, t.idle_since.is_not(None))
            .values(idle_since=None, updated_at=ctx.now)
        )


async def chargepoint_booted(ctx: HandlerContext, env: Envelope, req: NoFields) -> None:
    """Mark what was open on the charge point before the boot; idle if shown Available."""
    chargepoint_id = ctx.chargepoint_id
    open_chargepoints = ctx.session.info.get(OPEN_CHARGEPOINTS)
    if open_chargepoints is not None and chargepoint_id not in open_chargepoints:
        return  # no open transaction (the batch's lock_batch read them, locked): nothing to mark
    # Opened before the boot was handled (`created_at` is the CSMS's clock, like the event's).
    params = {"cp": chargepoint_id, "booted_at": env.created_at, "now": ctx.now}
    marked = await ctx.session.execute(MARK_REBOOTED, params)
    ids = [row.transaction_id for row in marked]
    await ctx.session.execute(MARK_IDLE_AT_BOOT, params)
    if ids:
        log.info(
            "%s rebooted with %d open transaction(s): %s",
            chargepoint_id,
            len(ids),
            ids,
            extra={"transaction_ids": ids},
        )
