"""OCPP 1.6 MeterValues (§4.7): every sampled value stored; the hot path of the service.

No ORM objects and no per-message round trip: rows go to the batch's unit of work (one
executemany per table per batch) and the transaction's wh_meter_last to the batch's
`WhLastUpdate` step (one aggregated UPDATE per batch, wh_last.py).
"""

from __future__ import annotations

from services.transactions.meter import iter_samples, latest_energy_wh
from services.transactions.tables import queue_meter_values, reading_key
from services.transactions.wh_last import WhLastUpdate
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.events.projection import emit_meter_values
from shared.ocpp.v16.meter_values_request import MeterValuesRequest


async def handle(ctx: HandlerContext, env: Envelope, req: MeterValuesRequest) -> None:
    """Queue the sampled values; the gateway already answered MeterValues.conf ({})."""
    chargepoint_id = ctx.chargepoint_id
    samples = list(iter_samples(req.meter_value))
    key = reading_key(env, chargepoint_id, req)
    queue_meter_values(
        ctx,
        samples,
        # Keyed by content: a retry as a new CALL stores nothing twice (tables.reading_key).
        message_id=key,
        chargepoint_id=chargepoint_id,
        connectorid=req.connector_id,
        transaction_id=req.transaction_id,
    )
    latest = latest_energy_wh(samples)
    if req.transaction_id is not None and latest is not None:
        ctx.uow.step(WhLastUpdate).add(chargepoint_id, req.transaction_id, *latest)
    emit_meter_values(
        ctx,
        chargepoint_id,
        transaction_id=req.transaction_id,
        connector_id=req.connector_id,
        samples=len(samples),
        latest=latest,
        reading_key=key,  # a resend stores nothing, so gets no second event
    )
