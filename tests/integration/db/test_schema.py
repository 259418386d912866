"""The schema holds the ER diagram and enforces its value sets and idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import (
    ARRAY,
    Boolean,
    Connection,
    DateTime,
    Integer,
    Numeric,
    String,
    Uuid,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db.models import (
    ChargePoint,
    ChargingProfile,
    Connector,
    Heartbeat,
    IdTag,
    Transaction,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

# (column, type, length in the ER diagram, length here, nullable). A length above the
# diagram's is a documented widening (docs/data-model.md).
Col = tuple[str, type[Any], int | None, int | None, bool]
ER_DIAGRAM: dict[str, list[Col]] = {
    "chargepoint": [
        ("chargepoint_id", String, 255, 255, False),
        ("chargepoint_model", String, 20, 20, True),
        ("chargepoint_vendor", String, 20, 50, True),  # OCPP 2.0.1 vendorName: 50
        ("chargebox_serial_number", String, 20, 25, True),  # OCPP 1.6 schema: 25
        ("chargepoint_serial_number", String, 25, 25, True),
        ("firmware_version", String, 50, 50, True),
        ("ip_address", String, 15, 45, True),  # IPv6
        ("websocket_port", Integer, None, None, True),
        ("connected", Boolean, None, None, False),
        ("chargepoint_status", String, 11, 11, True),
        ("ocpp_version", String, 9, 9, True),
        ("last_heartbeat", DateTime, None, None, True),
        ("location_uuid", Uuid, None, None, True),  # unknown charge points boot unplaced
    ],
    "charging_profile": [
        ("chargingprofile_id", Integer, None, None, False),
        ("transaction_id", Integer, None, None, True),
        ("stack_level", Integer, None, None, False),
        # OCPP 2.0.1 ChargingStationExternalConstraints: 34
        ("chargingprofile_purpose", String, 21, 34, False),
        ("recurrency_kind", String, 10, 10, True),
        ("valid_from", DateTime, None, None, True),
        ("valid_to", DateTime, None, None, True),
        ("duration", Integer, None, None, True),
        ("start_schedule", DateTime, None, None, True),
        ("charging_rate_unit", String, 1, 1, False),
        ("chargingschedule_period", ARRAY, None, None, False),
        ("min_charging_rate", Numeric, None, None, True),
    ],
    "connector": [
        ("uuid", Uuid, None, None, False),
        ("connectorid", Integer, None, None, False),
        ("availability_status", String, 11, 11, False),
        ("connector_status", String, 13, 13, False),
        ("chargepoint_id", String, 255, 255, False),
    ],
    "heartbeat": [
        ("timestamp", DateTime, None, None, False),
        ("chargepoint_id", String, 255, 255, False),
    ],
    "id_tag": [
        ("id_token", String, 255, 255, False),
        ("expiry_date", DateTime, None, None, True),
        ("revoked", Boolean, None, None, False),
        ("user_id", Uuid, None, None, True),
    ],
    "reservation": [
        ("uuid", Uuid, None, None, False),
        # NULL for connectorId 0 (any connector): chargepoint_id + connectorid say what.
        ("connector_uuid", Uuid, None, None, True),
        ("reservation_id", Integer, None, None, False),
        ("expiry_date", DateTime, None, None, False),
    ],
    "status_notification": [
        ("connector_uuid", Uuid, None, None, True),  # NULL for connectorId 0
        ("error_code", String, 50, 50, False),
        ("info", String, 50, 50, True),
        ("status", String, 50, 50, False),
        ("timestamp", DateTime, None, None, True),
        ("vendor_id", String, 255, 255, True),
        ("vendor_error_code", String, 50, 50, True),
    ],
    "transaction": [
        ("transaction_id", Integer, None, None, False),
        ("start_transaction_timestamp", DateTime, None, None, False),
        ("stop_transaction_timestamp", DateTime, None, None, True),
        # Deviation (0005): the diagram's IntegerField is NUMERIC, exact for 2.0.1's decimal
        # Wh readings (docs/data-model.md).
        ("wh_meter_start", Numeric, None, None, False),
        ("wh_meter_stop", Numeric, None, None, True),
        ("wh_meter_last", Numeric, None, None, False),
        ("id_tag", String, 255, 255, False),
        ("reason_stopped", String, 50, 50, True),
        ("status", String, 15, 15, False),
    ],
    "user_account": [("id", Uuid, None, None, False)],
    "profile": [
        ("user_id", Uuid, None, None, False),
        ("image", String, None, 512, True),
        ("timezone", String, None, 64, False),
    ],
    "location": [
        ("uuid", Uuid, None, None, False),
        ("country", String, 20, 20, False),
        ("postal_code", String, 20, 20, False),
        ("street_address", String, 255, 255, False),
        ("city", String, 20, 20, False),
        ("type", String, None, 20, False),
        ("name", String, None, 255, False),
    ],
}

# The diagram's relations, as foreign keys: (table, column) -> referred table.
ER_RELATIONS: dict[tuple[str, str], str] = {
    ("chargepoint", "location_uuid"): "location",
    ("connector", "chargepoint_id"): "chargepoint",
    ("id_tag", "user_id"): "user_account",
    ("profile", "user_id"): "user_account",
    ("heartbeat", "chargepoint_id"): "chargepoint",
    ("reservation", "connector_uuid"): "connector",
    ("charging_profile", "transaction_id"): "transaction",
    ("status_notification", "connector_uuid"): "connector",
}


def _columns(conn: Connection) -> dict[str, dict[str, Any]]:
    inspector = inspect(conn)
    return {
        table: {column["name"]: column for column in inspector.get_columns(table)}
        for table in inspector.get_table_names()
    }


def _foreign_keys(conn: Connection) -> set[tuple[str, str, str]]:
    inspector = inspect(conn)
    return {
        (table, fk["constrained_columns"][0], fk["referred_table"])
        for table in inspector.get_table_names()
        for fk in inspector.get_foreign_keys(table)
    }


async def test_every_er_diagram_table_and_column_exists(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as conn:
        columns = await conn.run_sync(_columns)
        foreign_keys = await conn.run_sync(_foreign_keys)
    for table, expected in ER_DIAGRAM.items():
        assert table in columns, table
        for name, type_, diagram_length, length, nullable in expected:
            where = f"{table}.{name}"
            assert name in columns[table], where
            column = columns[table][name]
            assert isinstance(column["type"], type_), (where, column["type"])
            if type_ is String:
                assert column["type"].length == length, where
                if diagram_length is not None:
                    assert column["type"].length >= diagram_length, where
            if type_ is DateTime:
                assert column["type"].timezone is True, where
            assert column["nullable"] is nullable, where
    for (table, column_name), referred in ER_RELATIONS.items():
        assert (table, column_name, referred) in foreign_keys


async def _chargepoint(session: AsyncSession) -> str:
    chargepoint_id = f"CP-{uuid4().hex[:12]}"
    session.add(ChargePoint(chargepoint_id=chargepoint_id))
    await session.flush()
    return chargepoint_id


async def test_check_rejects_unknown_connector_status(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as session:
        chargepoint_id = await _chargepoint(session)
        session.add(Connector(chargepoint_id=chargepoint_id, connectorid=1))
        await session.commit()
        with pytest.raises(IntegrityError, match="ck_connector_connector_status"):
            await session.execute(
                insert(Connector).values(
                    chargepoint_id=chargepoint_id, connectorid=2, connector_status="Bogus"
                )
            )
        await session.rollback()


async def test_check_accepts_both_versions_statuses(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as session:
        chargepoint_id = await _chargepoint(session)
        for number, status in enumerate(("SuspendedEVSE", "Occupied"), start=1):
            session.add(
                Connector(
                    chargepoint_id=chargepoint_id, connectorid=number, connector_status=status
                )
            )
        await session.commit()
        statuses = await session.scalars(
            select(Connector.connector_status)
            .where(Connector.chargepoint_id == chargepoint_id)
            .order_by(Connector.connectorid)
        )
        assert list(statuses) == ["SuspendedEVSE", "Occupied"]


async def test_heartbeat_message_id_is_unique(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    message_id = uuid4().hex
    async with db_sessionmaker() as session:
        chargepoint_id = await _chargepoint(session)
        session.add(Heartbeat(chargepoint_id=chargepoint_id, timestamp=NOW, message_id=message_id))
        await session.commit()
        with pytest.raises(IntegrityError, match="uq_heartbeat_message_id"):
            await session.execute(
                insert(Heartbeat).values(
                    chargepoint_id=chargepoint_id, timestamp=NOW, message_id=message_id
                )
            )
        await session.rollback()


async def test_retried_start_transaction_hits_the_retry_key(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    row = {
        "connectorid": 1,
        "start_transaction_timestamp": NOW,
        "wh_meter_start": 100,
        "wh_meter_last": 100,
        "id_tag": "UNKNOWN-TAG",  # no id_tag row: no foreign key, the record is kept
    }
    async with db_sessionmaker() as session:
        chargepoint_id = await _chargepoint(session)
        first = await session.scalar(
            insert(Transaction)
            .values(chargepoint_id=chargepoint_id, start_message_id=uuid4().hex, **row)
            .returning(Transaction.transaction_id)
        )
        await session.commit()
        assert isinstance(first, int)
        with pytest.raises(IntegrityError, match="uq_transaction_start"):
            await session.execute(
                insert(Transaction).values(
                    chargepoint_id=chargepoint_id, start_message_id=uuid4().hex, **row
                )
            )
        await session.rollback()
        transaction = await session.get(Transaction, first)
        assert transaction is not None and transaction.status == "Active"


async def test_transaction_tag_relationship_is_view_only(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    from sqlalchemy.orm import selectinload

    token = f"TAG-{uuid4().hex[:8]}"
    async with db_sessionmaker() as session:
        chargepoint_id = await _chargepoint(session)
        session.add(IdTag(id_token=token))
        transaction = Transaction(
            chargepoint_id=chargepoint_id,
            connectorid=1,
            start_transaction_timestamp=NOW,
            wh_meter_start=0,
            wh_meter_last=0,
            id_tag=token,
            start_message_id=uuid4().hex,
        )
        session.add(transaction)
        await session.commit()
        loaded = await session.scalar(
            select(Transaction)
            .options(selectinload(Transaction.tag))
            .where(Transaction.transaction_id == transaction.transaction_id)
        )
        assert loaded is not None and loaded.tag is not None
        assert loaded.tag.id_token == token


async def test_charging_profile_periods_round_trip(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    periods = [
        {"startPeriod": 0, "limit": 16.5, "numberPhases": 3},
        {"startPeriod": 1800, "limit": 8},
        {"startPeriod": 3600, "limit": 32.0, "numberPhases": 1},
    ]
    async with db_sessionmaker() as session:
        chargepoint_id = await _chargepoint(session)
        profile = ChargingProfile(
            stack_level=1,
            chargingprofile_purpose="TxDefaultProfile",
            chargingprofile_kind="Recurring",
            recurrency_kind="Daily",
            valid_from=NOW,
            valid_to=NOW + timedelta(days=30),
            duration=86400,
            start_schedule=NOW,
            charging_rate_unit="A",
            chargingschedule_period=periods,
            min_charging_rate=Decimal("6.1"),
            chargepoint_id=chargepoint_id,
            connector_id=0,
        )
        session.add(profile)
        await session.commit()
        profile_id = profile.chargingprofile_id

    async with db_sessionmaker() as session:
        loaded = await session.get(ChargingProfile, profile_id)
        assert loaded is not None
        assert loaded.chargingschedule_period == periods
        assert loaded.min_charging_rate == Decimal("6.1")
        assert loaded.start_schedule == NOW
        first_limit = await session.scalar(
            text(
                "SELECT chargingschedule_period[1]->>'limit' FROM charging_profile"
                " WHERE chargingprofile_id = :id"
            ),
            {"id": profile_id},
        )
        assert first_limit == "16.5"
        with pytest.raises(IntegrityError, match="ck_charging_profile_period_not_empty"):
            await session.execute(
                insert(ChargingProfile).values(
                    stack_level=0,
                    chargingprofile_purpose="TxProfile",
                    charging_rate_unit="W",
                    chargingschedule_period=[],
                )
            )
        await session.rollback()


async def test_clean_db_empties_every_table(clean_db: None, db_session: AsyncSession) -> None:
    count = await db_session.scalar(text("SELECT count(*) FROM chargepoint"))
    assert count == 0
