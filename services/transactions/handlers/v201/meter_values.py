"""OCPP 2.0.1 MeterValues (J01): sampled values outside a transaction, stored like 1.6's.

2.0.1 MeterValuesRequest names no transaction (values during a transaction travel in
TransactionEvent): rows get `transaction_id` NULL, `connectorid` = evseId (evseId 0 = the
main meter of the station).
"""

from __future__ import annotations

from services.transactions.meter import iter_samples_201, latest_energy_wh
from services.transactions.tables import METER_VALUE, message_key, meter_value_row, payload_errors
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope


async def handle(ctx: HandlerContext, env: Envelope) -> Payload | None:
    """Queue the sampled values; the gateway already answered MeterValuesResponse ({})."""
    chargepoint_id = env.chargepoint_id or ""
    with payload_errors(env.action, env.ocpp_version or ""):
        evse_id = int(env.payload["evseId"])
        samples = list(iter_samples_201(env.payload["meterValue"]))
    key = message_key(chargepoint_id, env.correlation_id, env.unique_id)
    for seq, sample in enumerate(samples):
        ctx.uow.add(
            METER_VALUE,
            meter_value_row(
                sample,
                message_id=key,
                seq=seq,
                chargepoint_id=chargepoint_id,
                connectorid=evse_id,
                transaction_id=None,
            ),
        )
    latest = latest_energy_wh(samples)
    ctx.emit(
        "meter_values.received",
        {
            "transaction_id": None,
            "connector_id": evse_id,
            "samples": len(samples),
            "energy_wh": latest[1] if latest is not None else None,
            "timestamp": latest[0].isoformat() if latest is not None else None,
        },
        chargepoint_id,
    )
    return None
