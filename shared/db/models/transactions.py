"""Charging sessions and what they measure: transactions, meter values, reservations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from shared.db import enums
from shared.db.base import Base, TimestampMixin, enum_check
from shared.db.models.chargepoint import ChargePoint, Connector
from shared.db.models.users import IdTag

if TYPE_CHECKING:
    from shared.db.models.charging import ChargingProfile


class Transaction(TimestampMixin, Base):
    """A charging session (ER diagram: Transaction); `transaction_id` is OCPP 1.6's integer.

    `id_tag` has no foreign key: charge points report sessions of tags the CSMS does not know
    (offline authorization, local list) and such a record must not be lost.
    """

    __tablename__ = "transaction"
    __table_args__ = (
        # A retried StartTransaction (same content) finds its row and gets the same id.
        UniqueConstraint(
            "chargepoint_id",
            "connectorid",
            "start_transaction_timestamp",
            "id_tag",
            name="uq_transaction_start",
        ),
        # An OCPP 2.0.1 transactionId is the charge point's: one row per (charge point, id),
        # so a repeated or redelivered TransactionEvent finds its row (NULLs for 1.6 rows).
        UniqueConstraint("chargepoint_id", "remote_transaction_id"),
        Index(None, "chargepoint_id", "status"),
        Index(None, "chargepoint_id", "remote_start_id"),
        Index(None, "id_tag"),
        Index(None, "start_transaction_timestamp"),
        # The stale-transaction sweep: open transactions whose connector was reported idle.
        Index(None, "status", "idle_since"),
        enum_check("status", enums.TRANSACTION_STATUSES),
        enum_check("reason_stopped", enums.STOP_REASONS),
        enum_check("estimated_reason_stopped", enums.STOP_REASONS),
        enum_check("authorization_status", enums.AUTHORIZATION_STATUSES),
        enum_check("trigger_reason", enums.TRIGGER_REASONS),
        enum_check("stop_trigger_reason", enums.TRIGGER_REASONS),
        enum_check("charging_state", enums.CHARGING_STATES),
    )

    transaction_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    chargepoint_id: Mapped[str] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="RESTRICT")
    )
    connectorid: Mapped[int] = mapped_column(Integer)
    connector_uuid: Mapped[UUID | None] = mapped_column(
        ForeignKey("connector.uuid", ondelete="SET NULL")
    )
    start_transaction_timestamp: Mapped[datetime]
    stop_transaction_timestamp: Mapped[datetime | None]
    # Wh, exact (NUMERIC): 2.0.1 readings have decimals (47.06 Wh); 1.6 ones are integers.
    wh_meter_start: Mapped[Decimal] = mapped_column(Numeric)
    wh_meter_stop: Mapped[Decimal | None] = mapped_column(Numeric)
    wh_meter_last: Mapped[Decimal] = mapped_column(Numeric)
    # Timestamp of the reading that set wh_meter_last (start, newest meter value, stop): a
    # reading replaces it only when newer (reordering between competing consumers).
    wh_meter_last_at: Mapped[datetime | None]
    id_tag: Mapped[str] = mapped_column(String(255))
    id_tag_stop: Mapped[str | None] = mapped_column(String(255))
    reason_stopped: Mapped[str | None] = mapped_column(String(50))
    # OCPP 2.0.1 triggerReason of the event that started the transaction (its first event
    # received) and of its Ended (NULL for 1.6 transactions; reason_stopped is stoppedReason).
    trigger_reason: Mapped[str | None] = mapped_column(String(30))
    stop_trigger_reason: Mapped[str | None] = mapped_column(String(30))
    # OCPP 2.0.1 transactionInfo.chargingState, the latest reported (the load balancer treats
    # SuspendedEV, EVConnected and Idle as idle, as 1.6 connector statuses).
    charging_state: Mapped[str | None] = mapped_column(String(13))
    status: Mapped[str] = mapped_column(String(15), default="Active", server_default="Active")
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    # OCPP 2.0.1 TransactionType.transactionId (a string of at most 36 characters).
    remote_transaction_id: Mapped[str | None] = mapped_column(String(36))
    # OCPP 2.0.1 TransactionType.remoteStartId: the id the CSMS gave the
    # RequestStartTransaction that started it (F01/F02); NULL otherwise.
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    # Idempotency keys (envelope correlation ids) of the messages that started / stopped it.
    start_message_id: Mapped[str] = mapped_column(String(64), unique=True)
    stop_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The idTagInfo / idTokenInfo status the start was answered (NULL: before 0005, or a
    # 2.0.1 transaction without a token yet); not Accepted -> status Rejected.
    authorization_status: Mapped[str | None] = mapped_column(String(20))
    # Who closed it when the charge point did not report the stop: "csms" (reason Superseded,
    # Stale, Rebooted) or the operator (reason Administrative, `close_note` = their reason).
    # NULL = the charge point's own StopTransaction / Ended (or not stopped yet).
    closed_by: Mapped[str | None] = mapped_column(String(320))
    close_note: Mapped[str | None] = mapped_column(String(500))
    # A stop reported after such a close replaced its estimate: when, and what it had said.
    corrected_at: Mapped[datetime | None]
    estimated_wh_meter_stop: Mapped[Decimal | None] = mapped_column(Numeric)
    estimated_stop_timestamp: Mapped[datetime | None]
    estimated_reason_stopped: Mapped[str | None] = mapped_column(String(50))
    estimated_closed_by: Mapped[str | None] = mapped_column(String(320))
    # When the CSMS learned that the connector of this open transaction is idle (reported
    # Available) and that its charge point rebooted: the sweep closes it Stale / Rebooted once
    # idle for CSMS_STALE_TRANSACTION_GRACE seconds.
    idle_since: Mapped[datetime | None]
    rebooted_at: Mapped[datetime | None]
    # OCPP 2.0.1 TransactionEvent seqNo: the highest received and the lower ones never
    # received (gaps); an event whose seqNo was received already is a retry.
    seq_no_max: Mapped[int | None] = mapped_column(Integer)
    missing_seq_nos: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))

    chargepoint: Mapped[ChargePoint] = relationship(lazy="raise")
    connector: Mapped[Connector | None] = relationship(lazy="raise")
    tag: Mapped[IdTag | None] = relationship(
        primaryjoin=lambda: foreign(Transaction.id_tag) == IdTag.id_token,
        viewonly=True,
        lazy="raise",
    )
    charging_profiles: Mapped[list[ChargingProfile]] = relationship(
        back_populates="transaction", lazy="raise", passive_deletes=True
    )


class MeterValue(Base):
    """One sampled value, stored as received (facts, not updates: reordering is harmless).

    `transaction_id` has no foreign key: values for a transaction the CSMS does not know
    (yet, or at all) are kept.
    """

    __tablename__ = "meter_value"
    __table_args__ = (
        UniqueConstraint("message_id", "seq"),
        Index(None, "transaction_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))
    # Position of the sampled value within its message (idempotency with message_id).
    seq: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(Integer)
    chargepoint_id: Mapped[str] = mapped_column(String(255), index=True)
    connectorid: Mapped[int | None] = mapped_column(Integer)
    timestamp: Mapped[datetime]
    measurand: Mapped[str] = mapped_column(
        String(64),
        default="Energy.Active.Import.Register",
        server_default="Energy.Active.Import.Register",
    )
    phase: Mapped[str | None] = mapped_column(String(8))
    unit: Mapped[str | None] = mapped_column(String(16))
    context: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(16))
    format: Mapped[str | None] = mapped_column(String(16))
    # OCPP's value is a string (SignedData, vendor formats); value_numeric when Raw and numeric.
    value: Mapped[str] = mapped_column(Text)
    value_numeric: Mapped[Decimal | None]


class Reservation(TimestampMixin, Base):
    """A ReserveNow (ER diagram: Reservation); `reservation_id` is OCPP's.

    `chargepoint_id` + `connectorid` say what is reserved (connectorid 0 = any connector of
    the charge point, OCPP 1.6 ReserveNow); `connector_uuid` points at the connector row when
    there is one (NULL for connectorId 0, or a connector not reported yet).
    """

    __tablename__ = "reservation"
    __table_args__ = (
        enum_check("status", enums.RESERVATION_STATUSES),
        # OCPP reservation ids are chosen by whoever sends ReserveNow: unique per charge
        # point only (two charge points may hold reservation 1 each).
        UniqueConstraint("chargepoint_id", "reservation_id"),
        # The expiry sweep (services/transactions/reservation_expiry.py): Active ones by date.
        Index(
            "ix_reservation_active_expiry",
            "expiry_date",
            postgresql_where=text("status = 'Active'"),
        ),
    )

    uuid: Mapped[UUID] = mapped_column(
        primary_key=True, default=uuid4, server_default=func.gen_random_uuid()
    )
    connector_uuid: Mapped[UUID | None] = mapped_column(
        ForeignKey("connector.uuid", ondelete="CASCADE"), index=True
    )
    # Nullable only for rows written before migration 0002 without a connector (none: 0002
    # fills it from the connector); every writer sets it.
    chargepoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("chargepoint.chargepoint_id", ondelete="CASCADE"), index=True
    )
    connectorid: Mapped[int | None] = mapped_column(Integer)
    # Assigned by the database (identity) when the API does not choose one.
    reservation_id: Mapped[int] = mapped_column(Integer, Identity())
    expiry_date: Mapped[datetime]
    id_tag: Mapped[str] = mapped_column(String(255))
    parent_id_tag: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), default="Active", server_default="Active")
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transaction.transaction_id", ondelete="SET NULL")
    )

    connector: Mapped[Connector | None] = relationship(lazy="raise")
    chargepoint: Mapped[ChargePoint | None] = relationship(lazy="raise")
    transaction: Mapped[Transaction | None] = relationship(lazy="raise")
