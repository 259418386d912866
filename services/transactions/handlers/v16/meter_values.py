"""OCPP 1.6 MeterValues (§4.7): every sampled value stored; the hot path of the service.

No ORM objects and no per-message round trip: rows go to the batch's unit of work (one
executemany per table per batch) and the transaction's wh_meter_last to one aggregated UPDATE
per batch (`wh_last`).
"""

from __future__ import annotations

from services.transactions import wh_last
from services.transactions.meter import iter_samples, latest_energy_wh
from services.transactions.tables import (
    emit_meter_values,
    payload_errors,
    queue_meter_values,
    reading_key,
)
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Queue the sampled values; the gateway already answered MeterValues.conf ({})."""
    chargepoint_id = env.chargepoint_id or ""
    p = env.payload
    with payload_errors(env.action):
        connector_id = int(p["connectorId"])
        raw_transaction = p.get("transactionId")
        transaction_id = int(raw_transaction) if raw_transaction is not None else None
        samples = list(iter_samples(p["meterValue"]))
    # Keyed by content: a retry as a new CALL stores nothing twice (tables.reading_key).
    key = reading_key(chargepoint_id, env.action, env.payload)
    queue_meter_values(
        ctx,
        samples,
        message_id=key,
        chargepoint_id=chargepoint_id,
        connectorid=connector_id,
        transaction_id=transaction_id,
    )
    latest = latest_energy_wh(samples)
    if transaction_id is not None and latest is not None:
        wh_last.schedule(ctx.session, chargepoint_id, transaction_id, *latest)
    emit_meter_values(
        ctx,
        chargepoint_id,
        connector_id=connector_id,
        transaction_id=transaction_id,
        samples=len(samples),
        latest=latest,
    )
    return None
