"""Rows the API reads but other services write: charge points, transactions, logs..."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.models import (
    ChargePoint,
    ChargingProfile,
    ChargingProfileInstallation,
    CommandLog,
    Connector,
    Heartbeat,
    IdTag,
    Location,
    MeterValue,
    OcppMessage,
    Reservation,
    StatusNotification,
    Transaction,
)

_seq = count(1)
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    """A string unique within the test run."""
    return f"{prefix}-{next(_seq)}"


class Factory:
    """Inserts rows through its own sessions and returns them (detached, loaded)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def add(self, *rows: Any) -> None:
        """Insert and commit the rows."""
        async with self.sessionmaker() as session:
            session.add_all(rows)
            await session.commit()

    async def location(self, **kw: Any) -> Location:
        """A location."""
        values: dict[str, Any] = {
            "name": unique("Site"),
            "type": "parking_lot",
            "street_address": "1 Main Street",
            "postal_code": "12345",
            "city": "Berlin",
            "country": "DE",
        }
        row = Location(**(values | kw))
        await self.add(row)
        return row

    async def chargepoint(self, **kw: Any) -> ChargePoint:
        """A charge point as the registry would have stored it after a boot."""
        values: dict[str, Any] = {
            "chargepoint_id": unique("CP"),
            "registration_status": "Accepted",
            "connected": True,
            "chargepoint_status": "Available",
            "ocpp_version": "ocpp1.6",
            "chargepoint_vendor": "Vendor",
            "chargepoint_model": "Model",
            "firmware_version": "1.0",
            "ip_address": "10.0.0.1",
            "websocket_port": 51000,
            "last_heartbeat": T0,
        }
        row = ChargePoint(**(values | kw))
        await self.add(row)
        return row

    async def connector(self, chargepoint_id: str, connectorid: int = 1, **kw: Any) -> Connector:
        """A connector."""
        row = Connector(
            chargepoint_id=chargepoint_id,
            connectorid=connectorid,
            **({"connector_status": "Available", "availability_status": "Operative"} | kw),
        )
        await self.add(row)
        return row

    async def idtag(self, id_token: str | None = None, **kw: Any) -> IdTag:
        """An id tag."""
        row = IdTag(id_token=id_token or unique("TAG"), **kw)
        await self.add(row)
        return row

    async def transaction(self, chargepoint_id: str, id_tag: str, **kw: Any) -> Transaction:
        """A transaction (active unless stop fields are given)."""
        values: dict[str, Any] = {
            "chargepoint_id": chargepoint_id,
            "connectorid": 1,
            "id_tag": id_tag,
            "start_transaction_timestamp": T0,
            "wh_meter_start": 1000,
            "wh_meter_last": 1500,
            "status": "Active",
            "start_message_id": uuid.uuid4().hex,
        }
        row = Transaction(**(values | kw))
        await self.add(row)
        return row

    async def meter_value(self, transaction_id: int, chargepoint_id: str, **kw: Any) -> MeterValue:
        """One sampled value."""
        values: dict[str, Any] = {
            "message_id": uuid.uuid4().hex,
            "seq": 0,
            "transaction_id": transaction_id,
            "chargepoint_id": chargepoint_id,
            "connectorid": 1,
            "timestamp": T0 + timedelta(minutes=5),
            "unit": "Wh",
            "value": "1500",
            "value_numeric": Decimal(1500),
        }
        row = MeterValue(**(values | kw))
        await self.add(row)
        return row

    async def reservation(self, connector: Connector, id_tag: str, **kw: Any) -> Reservation:
        """A reservation of one connector."""
        values: dict[str, Any] = {
            "connector_uuid": connector.uuid,
            "chargepoint_id": connector.chargepoint_id,
            "connectorid": connector.connectorid,
            "id_tag": id_tag,
            "expiry_date": T0 + timedelta(hours=1),
        }
        row = Reservation(**(values | kw))
        await self.add(row)
        return row

    async def status_notification(
        self, chargepoint_id: str, connectorid: int = 1, **kw: Any
    ) -> StatusNotification:
        """A received StatusNotification."""
        values: dict[str, Any] = {
            "chargepoint_id": chargepoint_id,
            "connectorid": connectorid,
            "error_code": "NoError",
            "status": "Available",
            "timestamp": T0,
            "received_at": T0,
        }
        row = StatusNotification(**(values | kw))
        await self.add(row)
        return row

    async def heartbeat(self, chargepoint_id: str, timestamp: datetime = T0) -> Heartbeat:
        """A received Heartbeat."""
        row = Heartbeat(chargepoint_id=chargepoint_id, timestamp=timestamp)
        await self.add(row)
        return row

    async def command(self, chargepoint_id: str, **kw: Any) -> CommandLog:
        """A logged command."""
        values: dict[str, Any] = {
            "chargepoint_id": chargepoint_id,
            "action": "Reset",
            "request": {"type": "Soft"},
            "outcome": "result",
            "response": {"status": "Accepted"},
            "requested_by": "operator@csms.test",
            "created_at": T0,
            "completed_at": T0 + timedelta(seconds=1),
        }
        row = CommandLog(**(values | kw))
        await self.add(row)
        return row

    async def ocpp_message(self, chargepoint_id: str, **kw: Any) -> OcppMessage:
        """A logged frame."""
        values: dict[str, Any] = {
            "chargepoint_id": chargepoint_id,
            "direction": "in",
            "message_type": 2,
            "action": "Heartbeat",
            "unique_id": unique("uid"),
            "payload": {},
            "created_at": T0,
        }
        row = OcppMessage(**(values | kw))
        await self.add(row)
        return row

    async def charging_profile(self, **kw: Any) -> ChargingProfile:
        """A charging profile definition."""
        values: dict[str, Any] = {
            "stack_level": 0,
            "chargingprofile_purpose": "TxDefaultProfile",
            "chargingprofile_kind": "Absolute",
            "charging_rate_unit": "A",
            "chargingschedule_period": [{"startPeriod": 0, "limit": 16.0}],
        }
        row = ChargingProfile(**(values | kw))
        await self.add(row)
        return row

    async def installation(
        self, chargingprofile_id: int, chargepoint_id: str, connectorid: int = 0
    ) -> ChargingProfileInstallation:
        """A profile installed on a charge point."""
        row = ChargingProfileInstallation(
            chargingprofile_id=chargingprofile_id,
            chargepoint_id=chargepoint_id,
            connectorid=connectorid,
            status="Installed",
        )
        await self.add(row)
        return row
