"""Core table handles and row builders shared by the handlers (no ORM objects on the hot path)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import String, Table

from services.transactions.meter import Sample
from shared.db.models import MeterValue, Reservation, Transaction
from shared.dispatch import HandlerContext
from shared.envelope import Envelope, canonical_payload, content_key

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


def reading_key(env: Envelope, chargepoint_id: str, request: BaseModel) -> str:
    """The idempotency key of the readings a MeterValues CALL carries: what it says, not the
    frame it came in (32 hex characters, `message_key` with no unique id).

    A charge point retries a MeterValues answered with a CALLERROR as a *new* CALL: a new
    unique id, the same payload (OCPP 1.6 §4.7, TransactionMessageAttempts). The gateway
    answers InternalError when the broker's confirm of its publish is lost (a broker restart
    or crash), although the broker may have queued the message; keyed by the frame, the
    retry's readings were stored a second time (`make chaos`, docs/chaos.md). Keyed by
    (charge point, action, parsed request) the retry, a resend with the same unique id and a
    redelivered envelope all write nothing twice. Two payloads alike field for field carry the
    same readings (same timestamps, same values): nothing distinct is merged.

    The gateway computes the key from the frame's own payload (`Envelope.content_key`, from
    the canonical bytes it serialises for the message key anyway); this function only falls
    back to the parsed request for an envelope without one (a tool, an older gateway), which
    costs a dump and a hash here (~10 µs a message).
    """
    if env.content_key:
        return env.content_key
    payload = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    return content_key(chargepoint_id, env.action, canonical_payload(payload))


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
