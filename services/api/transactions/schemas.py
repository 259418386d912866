"""Transactions (ER diagram: Transaction) and their meter values."""

from __future__ import annotations

from typing import Literal

from services.api.common import ReadModel, UtcDateTime

TransactionStatus = Literal["Active", "Completed"]


class TransactionRead(ReadModel):
    """A charging session; `energy_wh` and `duration_seconds` are derived (so far, if active)."""

    transaction_id: int
    chargepoint_id: str
    connectorid: int
    id_tag: str
    id_tag_stop: str | None = None
    start_transaction_timestamp: UtcDateTime
    stop_transaction_timestamp: UtcDateTime | None = None
    wh_meter_start: int
    wh_meter_stop: int | None = None
    wh_meter_last: int
    reason_stopped: str | None = None
    status: str
    reservation_id: int | None = None
    remote_transaction_id: str | None = None
    energy_wh: int
    duration_seconds: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


class MeterValueRead(ReadModel):
    """One sampled value as the charge point reported it."""

    id: int
    transaction_id: int | None = None
    chargepoint_id: str
    connectorid: int | None = None
    timestamp: UtcDateTime
    measurand: str
    phase: str | None = None
    unit: str | None = None
    context: str | None = None
    location: str | None = None
    format: str | None = None
    value: str
    value_numeric: float | None = None
