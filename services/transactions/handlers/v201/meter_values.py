"""OCPP 2.0.1 MeterValues (J01): sampled values of an EVSE, stored like 1.6's.

2.0.1 MeterValuesRequest names no transaction (values during a transaction normally travel
in TransactionEvent), only the EVSE: rows get `connectorid` = evseId and are linked to the
EVSE's open transaction when it has one (`transaction_id`; its wh_meter_last follows a newer
total register reading, as 1.6 MeterValues do). evseId 0 (the station's main meter) and an
EVSE without an open transaction: `transaction_id` NULL.
"""

from __future__ import annotations

from sqlalchemy import select

from services.transactions.meter import iter_samples_201, latest_energy_wh
from services.transactions.tables import TRANSACTION, queue_meter_values, reading_key
from services.transactions.wh_last import WhLastUpdate
from shared.db.enums import TX_ACTIVE
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.events.projection import emit_meter_values
from shared.ocpp.v201.meter_values_request import MeterValuesRequest


async def handle(ctx: HandlerContext, env: Envelope, req: MeterValuesRequest) -> None:
    """Queue the sampled values; the gateway already answered MeterValuesResponse ({})."""
    chargepoint_id = ctx.chargepoint_id
    samples = list(iter_samples_201(req.meter_value))
    transaction_id = await open_transaction(ctx, chargepoint_id, req.evse_id)
    key = reading_key(env, chargepoint_id, req)
    queue_meter_values(
        ctx,
        samples,
        # Keyed by content: a retry as a new CALL stores nothing twice (tables.reading_key).
        message_id=key,
        chargepoint_id=chargepoint_id,
        connectorid=req.evse_id,
        transaction_id=transaction_id,
    )
    latest = latest_energy_wh(samples)
    if transaction_id is not None and latest is not None:
        ctx.uow.step(WhLastUpdate).add(chargepoint_id, transaction_id, *latest)
    emit_meter_values(
        ctx,
        chargepoint_id,
        transaction_id=transaction_id,
        connector_id=req.evse_id,
        samples=len(samples),
        latest=latest,
        reading_key=key,  # a resend stores nothing, so gets no second event
    )


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
                t.status == TX_ACTIVE,
            )
            .order_by(t.start_transaction_timestamp.desc(), t.transaction_id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return found
