"""Transactions (ER diagram: Transaction) and their meter values."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, WithJsonSchema

from services.api.common import ApiModel, ReadModel, UtcDateTime
from shared.txevents import wh_number

TransactionStatus = Literal["Active", "Completed", "Rejected"]

Wh = Annotated[
    Decimal,
    PlainSerializer(wh_number, return_type=int | float, when_used="json"),
    WithJsonSchema({"type": "number", "description": "Wh, exact (decimals of 2.0.1 readings)"}),
]
"""Energy in Wh as a JSON number, exact: 1.6's integers stay integers, 47.06 stays 47.06."""


class TransactionRead(ReadModel):
    """A charging session; `energy_wh` and `duration_seconds` are derived (so far, if active).

    `status`: Active (open), Completed, or Rejected (its start was answered
    `authorization_status` other than Accepted; never open). `closed_by` says who closed it
    when the charge point did not: `csms` (reason Superseded, Stale, Rebooted) or the
    operator's login (reason Administrative, `close_note`); null = the charge point's own stop.
    `corrected_at` + `estimated_*`: a stop reported after such a close replaced the estimate.
    """

    transaction_id: int
    chargepoint_id: str
    connectorid: int
    id_tag: str
    id_tag_stop: str | None = None
    start_transaction_timestamp: UtcDateTime
    stop_transaction_timestamp: UtcDateTime | None = None
    wh_meter_start: Wh
    wh_meter_stop: Wh | None = None
    wh_meter_last: Wh
    reason_stopped: str | None = None
    status: str
    authorization_status: str | None = None
    reservation_id: int | None = None
    remote_transaction_id: str | None = None
    remote_start_id: int | None = Field(
        default=None,
        description="OCPP 2.0.1: the remoteStartId of the request-start-transaction command "
        "that started it",
    )
    trigger_reason: str | None = Field(
        default=None,
        description="OCPP 2.0.1: the triggerReason of the transaction's start (its Started "
        "event, else the first event received); null for 1.6",
    )
    stop_trigger_reason: str | None = Field(
        default=None,
        description="OCPP 2.0.1: the triggerReason of its Ended event (`reason_stopped` is "
        "the stoppedReason); null for 1.6",
    )
    charging_state: str | None = Field(
        default=None,
        description="OCPP 2.0.1: the latest chargingState (Charging, EVConnected, SuspendedEV, "
        "SuspendedEVSE, Idle); null for 1.6",
    )
    closed_by: str | None = None
    close_note: str | None = None
    corrected_at: UtcDateTime | None = None
    estimated_wh_meter_stop: Wh | None = None
    estimated_stop_timestamp: UtcDateTime | None = None
    estimated_reason_stopped: str | None = None
    estimated_closed_by: str | None = None
    idle_since: UtcDateTime | None = None
    rebooted_at: UtcDateTime | None = None
    missing_seq_nos: list[int] | None = Field(
        default=None, description="OCPP 2.0.1: TransactionEvent seqNo never received (gaps)"
    )
    energy_wh: Wh
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


class TransactionClose(ApiModel):
    """Settle an open transaction administratively (the charge point never reported its stop)."""

    reason: Annotated[str, Field(min_length=1, max_length=500, description="why; stored as is")]
    meter_stop: Annotated[
        Decimal | None,
        Field(
            ge=0,
            le=Decimal("1e15"),
            description="the meter value (Wh) to settle with; default: the last reading",
        ),
    ] = None
    stopped_at: Annotated[UtcDateTime | None, Field(description="when it ended; default: now")] = (
        None
    )


class TransactionStopResult(ReadModel):
    """The charge point's answer to RemoteStopTransaction / RequestStopTransaction."""

    command_id: uuid.UUID = Field(description="the command log entry")
    action: Literal["RemoteStopTransaction", "RequestStopTransaction"]
    status: str = Field(description="Accepted: the charge point will stop and report it")
