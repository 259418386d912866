"""OCPP 2.0.1 MeterValues (J01): sampled values of an EVSE, stored like 1.6's.

2.0.1 MeterValuesRequest names no transaction (values during a transaction normally travel
in TransactionEvent), only the EVSE: rows get `connectorid` = evseId and are linked to the
EVSE's open transaction when it has one (`transaction_id`; its wh_meter_last follows a newer
total register reading, as 1.6 MeterValues do). evseId 0 (the station's main meter) and an
EVSE without an open transaction: `transaction_id` NULL.
"""

from __future__ import annotations

from sqlalchemy import select

from services.transactions import wh_last
from services.transactions.idtags import ACTIVE
from services.transactions.meter import iter_samples_201, latest_energy_wh
from services.transactions.tables import (
    TRANSACTION,
    emit_meter_values,
    payload_errors,
    queue_meter_values,
    reading_key,
)
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Queue the sampled values; the gateway already answered MeterValuesResponse ({})."""
    chargepoint_id = env.chargepoint_id or ""
    with payload_errors(env.action, env.ocpp_version or ""):
        evse_id = int(env.payload["evseId"])
        samples = list(iter_samples_201(env.payload["meterValue"]))
    # Keyed by content: a retry as a new CALL stores nothing twice (tables.reading_key).
    key = reading_key(chargepoint_id, env.action, env.payload)
    transaction_id = await open_transaction(ctx, chargepoint_id, evse_id)
    queue_meter_values(
        ctx,
        samples,
        message_id=key,
        chargepoint_id=chargepoint_id,
        connectorid=evse_id,
        transaction_id=transaction_id,
    )
    latest = latest_energy_wh(samples)
    if transaction_id is not None and latest is not None:
        wh_last.schedule(ctx.session, chargepoint_id, transaction_id, *latest)
    emit_meter_values(
        ctx,
        chargepoint_id,
        connector_id=evse_id,
        transaction_id=transaction_id,
        samples=len(samples),
        latest=latest,
    )
    return None


async def open_transaction(ctx: HandlerContext, chargepoint_id: str, evse_id: int) -> int | None:
    """The EVSE's open transaction (the one that started last), or None."""
    if evse_id <= 0:
        return None
    t = TRANSACTION.c
    found: int | None = (
        await ctx.session.execute(
            select(t.transaction_id)
            .where(
                t.chargepoint_id == chargepoint_id,
                t.connectorid == evse_id,
                t.status == ACTIVE,
            )
            .order_by(t.start_transaction_timestamp.desc(), t.transaction_id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return found
