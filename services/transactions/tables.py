"""Core table handles and row builders shared by the handlers (no ORM objects on the hot path)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import String, Table

from services.transactions.meter import Sample
from shared.db.models import MeterValue, Reservation, Transaction
from shared.dispatch import HandlerContext

TRANSACTION = cast(Table, Transaction.__table__)
METER_VALUE = cast(Table, MeterValue.__table__)
RESERVATION = cast(Table, Reservation.__table__)

_METER_LIMITS: dict[str, int] = {
    column.name: column.type.length
    for column in METER_VALUE.columns
    if isinstance(column.type, String) and column.type.length is not None
}


def _fit(column: str, value: str | None) -> str | None:
    """`value` cut to the column's length: a vendor's overlong label must not lose the reading."""
    limit = _METER_LIMITS.get(column)
    if value is None or limit is None or len(value) <= limit:
        return value
    return value[:limit]


def meter_value_row(
    sample: Sample,
    *,
    message_id: str,
    seq: int,
    chargepoint_id: str,
    connectorid: int | None,
    transaction_id: int | None,
) -> dict[str, Any]:
    """The `meter_value` row of one sampled value (every key always present: one executemany)."""
    return {
        "message_id": message_id,
        "seq": seq,
        "transaction_id": transaction_id,
        "chargepoint_id": chargepoint_id,
        "connectorid": connectorid,
        "timestamp": sample.timestamp,
        "measurand": _fit("measurand", sample.measurand),
        "phase": _fit("phase", sample.phase),
        "unit": _fit("unit", sample.unit),
        "context": _fit("context", sample.context),
        "location": _fit("location", sample.location),
        "format": _fit("format", sample.format),
        "value": sample.value,
        "value_numeric": sample.value_numeric,
    }


def message_key(chargepoint_id: str, correlation_id: str | None, unique_id: str | None) -> str:
    """The idempotency key of what a message writes: the gateway's correlation id.

    Every upstream CALL carries one (docs/internals.md); the fallback keeps an envelope
    published without it (tools, old gateways) writable and still stable on redelivery.
    """
    if correlation_id:
        return correlation_id
    return f"{chargepoint_id}/{unique_id}"[:64]


def queue_meter_values(
    ctx: HandlerContext,
    samples: Iterable[Sample],
    *,
    message_id: str,
    chargepoint_id: str,
    connectorid: int | None,
    transaction_id: int | None,
) -> None:
    """Queue the `meter_value` rows of a message's sampled values in the batch's unit of work."""
    for seq, sample in enumerate(samples):
        ctx.uow.add(
            METER_VALUE,
            meter_value_row(
                sample,
                message_id=message_id,
                seq=seq,
                chargepoint_id=chargepoint_id,
                connectorid=connectorid,
                transaction_id=transaction_id,
            ),
        )
