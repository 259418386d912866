"""ReservationStatusUpdate (OCPP 2.0.1 H04) through the transactions service's routes: the
reservation rows and their public events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transactions.routes import ROUTER
from shared.dispatch import Dispatcher
from shared.envelope import Envelope, Kind
from shared.ocpp import OCPP201
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher, Sql, delivery

from .helpers import call

pytestmark = pytest.mark.integration


async def test_station_expires_or_removes_its_reservations(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    cp = f"CP-RSU-{uuid.uuid4().hex[:8]}"
    await sql(
        "INSERT INTO chargepoint (chargepoint_id, registration_status) VALUES (:cp, 'Accepted')",
        cp=cp,
    )
    expiry = datetime.now(UTC) + timedelta(hours=1)
    for rid, status in ((1, "Active"), (2, "Active"), (3, "Used")):
        await sql(
            "INSERT INTO reservation (chargepoint_id, connectorid, reservation_id, expiry_date,"
            " id_tag, status) VALUES (:cp, 1, :rid, :e, 'T', :s)",
            cp=cp,
            rid=rid,
            e=expiry,
            s=status,
        )
    dispatcher = Dispatcher(
        router=ROUTER,
        sessionmaker=db_sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )

    def update(rid: int, status: str) -> FakeDelivery:
        payload = {"reservationId": rid, "reservationUpdateStatus": status}
        return delivery(
            call("ReservationStatusUpdate", payload, chargepoint_id=cp, ocpp_version=OCPP201)
        )

    outcomes = await dispatcher(
        [
            update(1, "Expired"),
            update(2, "Removed"),
            update(3, "Expired"),
            update(9, "Expired"),
            update(3, "Exploded"),
        ]
    )
    assert list(outcomes[:4]) == [None, None, None, None]
    # A status outside the schema is refused at parsing with the version's CALLERROR (the
    # consumer dead-letters it: the gateway had answered {}); nothing is written.
    refused = outcomes[4]
    assert isinstance(refused, Envelope) and refused.kind is Kind.ERROR
    assert refused.error_code == "PropertyConstraintViolation"
    rows = await sql(
        "SELECT reservation_id, status FROM reservation WHERE chargepoint_id = :cp"
        " ORDER BY reservation_id",
        cp=cp,
    )
    assert [(r["reservation_id"], r["status"]) for r in rows] == [
        (1, "Expired"),
        (2, "Cancelled"),
        (3, "Used"),
    ]
    # The public events, written with the change: one per reservation that did end.
    events = await sql(
        "SELECT type, data, id_tag FROM event_outbox WHERE chargepoint_id = :cp ORDER BY seq",
        cp=cp,
    )
    assert [(e["type"], e["data"], e["id_tag"]) for e in events] == [
        (
            "reservation.expired",
            {"reservation_id": 1, "connector_id": 1, "id_tag": "T", "source": "chargepoint"},
            "T",
        ),
        (
            "reservation.cancelled",
            {"reservation_id": 2, "connector_id": 1, "id_tag": "T", "source": "chargepoint"},
            "T",
        ),
    ]
