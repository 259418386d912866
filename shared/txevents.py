"""The `transaction.stopped` domain event, written by the transactions service and the API.

Every way a transaction ends publishes the same event, so billing and load balancing can tell
them apart by two fields:

- `closed_by`: `chargepoint` (its StopTransaction / TransactionEvent Ended), `csms` (the CSMS
  closed an open transaction the charge point never stopped: `reason` Superseded, Stale or
  Rebooted), `operator` (`POST /transactions/{id}/close`, reason Administrative);
- `outcome`: `stopped`, `closed` (by the CSMS or an operator), `corrected` (a stop reported
  after such a close replaced its estimate: `previous` holds the estimate), `repeated` (the
  same stop again), `unknown` (a stop for a transaction the CSMS never saw).

Energies are JSON numbers in Wh, exact: integers stay integers, 2.0.1 decimals keep theirs.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from shared.event_names import TRANSACTION_STOPPED
from shared.ocpp import format_datetime

__all__ = ["TRANSACTION_STOPPED"]

ClosedBy = Literal["chargepoint", "csms", "operator"]
Outcome = Literal["stopped", "closed", "corrected", "repeated", "unknown"]

CLOSED_BY_CSMS: Final = "csms"
"""`transaction.closed_by` of a close the CSMS decided (Superseded, Stale, Rebooted)."""


def wh_number(value: Decimal | int | None) -> int | float | None:
    """A Wh quantity as a JSON number: an int when whole, else the float of its decimal text
    (meter readings have far fewer than the 15 significant digits a float keeps exactly)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def closed_by_label(closed_by: str | None) -> ClosedBy:
    """The event's `closed_by` of a `transaction.closed_by` column value."""
    if closed_by is None:
        return "chargepoint"
    return "csms" if closed_by == CLOSED_BY_CSMS else "operator"


def stopped_payload(
    *,
    transaction_id: int,
    connector_id: int | None,
    meter_start: Decimal | int | None,
    meter_stop: Decimal | int | None,
    reason: str | None,
    timestamp: datetime | None,
    outcome: Outcome,
    closed_by: ClosedBy,
    id_tag: str | None = None,
    remote_transaction_id: str | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload of a `transaction.stopped` event."""
    energy = (
        meter_stop - meter_start if meter_stop is not None and meter_start is not None else None
    )
    payload: dict[str, Any] = {
        "transaction_id": transaction_id,
        "connector_id": connector_id,
        "id_tag": id_tag,
        "meter_stop": wh_number(meter_stop),
        "energy_wh": wh_number(energy),
        "reason": reason,
        "timestamp": format_datetime(timestamp) if timestamp is not None else None,
        "outcome": outcome,
        "closed_by": closed_by,
    }
    if remote_transaction_id is not None:
        payload["remote_transaction_id"] = remote_transaction_id
    if previous is not None:
        payload["previous"] = previous
    return payload


def estimate_of(
    *,
    meter_stop: Decimal | int | None,
    timestamp: datetime | None,
    reason: str | None,
    closed_by: str | None,
) -> dict[str, Any]:
    """The `previous` member of a `corrected` event: what the close had estimated."""
    return {
        "meter_stop": wh_number(meter_stop),
        "timestamp": format_datetime(timestamp) if timestamp is not None else None,
        "reason": reason,
        "closed_by": closed_by_label(closed_by),
    }
