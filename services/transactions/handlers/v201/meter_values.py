"""OCPP 2.0.1 MeterValues (J01): sampled values outside a transaction, stored like 1.6's.

2.0.1 MeterValuesRequest names no transaction (values during a transaction travel in
TransactionEvent): rows get `transaction_id` NULL, `connectorid` = evseId (evseId 0 = the
main meter of the station).
"""

from __future__ import annotations

from services.transactions.meter import iter_samples_201, latest_energy_wh
from services.transactions.tables import (
    emit_meter_values,
    message_key,
    payload_errors,
    queue_meter_values,
)
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Queue the sampled values; the gateway already answered MeterValuesResponse ({})."""
    chargepoint_id = env.chargepoint_id or ""
    with payload_errors(env.action, env.ocpp_version or ""):
        evse_id = int(env.payload["evseId"])
        samples = list(iter_samples_201(env.payload["meterValue"]))
    key = message_key(chargepoint_id, env.correlation_id, env.unique_id)
    queue_meter_values(
        ctx,
        samples,
        message_id=key,
        chargepoint_id=chargepoint_id,
        connectorid=evse_id,
        transaction_id=None,
    )
    latest = latest_energy_wh(samples)
    emit_meter_values(
        ctx,
        chargepoint_id,
        connector_id=evse_id,
        transaction_id=None,
        samples=len(samples),
        latest=latest,
    )
    return None
