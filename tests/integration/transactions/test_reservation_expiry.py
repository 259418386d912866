"""The reservation expiry sweep (services/transactions/reservation_expiry.py) on the real
database: reservations of both versions past their expiry date end Expired once, with one
`reservation.expired` event, however many sweeps and station reports race for them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.transactions.reservation_expiry import expire_due
from services.transactions.routes import ROUTER
from shared.dispatch import Dispatcher
from shared.ocpp import OCPP16, OCPP201, format_datetime
from shared.settings import Settings
from tests.factories import FakeDelivery, RecordingPublisher, Sql, delivery

from .helpers import call

pytestmark = pytest.mark.integration


async def _chargepoint(sql: Sql, prefix: str, version: str) -> str:
    cp = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await sql(
        "INSERT INTO chargepoint (chargepoint_id, registration_status, ocpp_version)"
        " VALUES (:cp, 'Accepted', :v)",
        cp=cp,
        v=version,
    )
    return cp


async def _reserve(sql: Sql, cp: str, rid: int, expiry: datetime, status: str = "Active") -> None:
    await sql(
        "INSERT INTO reservation (chargepoint_id, connectorid, reservation_id, expiry_date,"
        " id_tag, status) VALUES (:cp, 1, :rid, :e, :tag, :s)",
        cp=cp,
        rid=rid,
        e=expiry,
        tag=f"TAG-{rid}",
        s=status,
    )


async def _states(sql: Sql, cp: str) -> list[tuple[int, str]]:
    rows = await sql(
        "SELECT reservation_id, status FROM reservation WHERE chargepoint_id = :cp"
        " ORDER BY reservation_id",
        cp=cp,
    )
    return [(r["reservation_id"], r["status"]) for r in rows]


async def _events(sql: Sql, cp: str) -> list[tuple[str, dict[str, object]]]:
    rows = await sql(
        "SELECT type, data FROM event_outbox WHERE chargepoint_id = :cp ORDER BY seq", cp=cp
    )
    return [(r["type"], r["data"]) for r in rows]


def _call(cp: str, version: str, action: str, payload: dict[str, object]) -> FakeDelivery:
    return delivery(call(action, payload, chargepoint_id=cp, ocpp_version=version))


def _dispatcher(sessionmaker: async_sessionmaker[AsyncSession]) -> Dispatcher:
    return Dispatcher(
        router=ROUTER,
        sessionmaker=sessionmaker,
        settings=Settings(),
        publisher=RecordingPublisher(),
    )


async def test_sweeps_racing_expire_each_due_reservation_once_with_one_event(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    cp16 = await _chargepoint(sql, "CP-EXP16", OCPP16)
    cp201 = await _chargepoint(sql, "CP-EXP201", OCPP201)
    now = datetime.now(UTC)
    past, future = now - timedelta(minutes=5), now + timedelta(hours=1)
    await _reserve(sql, cp16, 1, past)
    await _reserve(sql, cp16, 2, future)
    await _reserve(sql, cp16, 3, past, status="Used")
    await _reserve(sql, cp201, 1, past)
    await _reserve(sql, cp201, 2, now)  # at its expiry date: over

    # Four replicas sweeping at the same moment (SKIP LOCKED, status re-checked).
    rounds = await asyncio.gather(
        *(expire_due(db_sessionmaker, Settings(), now=now) for _ in range(4))
    )
    ended = sorted(
        (row.chargepoint_id, row.reservation_id)
        for rows in rounds
        for row in rows
        if row.chargepoint_id in (cp16, cp201)
    )
    assert ended == sorted([(cp16, 1), (cp201, 1), (cp201, 2)])
    assert await _states(sql, cp16) == [(1, "Expired"), (2, "Active"), (3, "Used")]
    assert await _states(sql, cp201) == [(1, "Expired"), (2, "Expired")]
    assert await _events(sql, cp16) == [
        (
            "reservation.expired",
            {
                "reservation_id": 1,
                "connector_id": 1,
                "id_tag": "TAG-1",
                "expiry_date": format_datetime(past),
                "source": "csms",
            },
        )
    ]
    assert [(t, d["reservation_id"]) for t, d in await _events(sql, cp201)] == [
        ("reservation.expired", 1),
        ("reservation.expired", 2),
    ]
    id_tags = await sql(
        "SELECT DISTINCT id_tag FROM event_outbox WHERE chargepoint_id = :cp", cp=cp16
    )
    assert [r["id_tag"] for r in id_tags] == ["TAG-1"]  # drivers' streams see their own

    # Later sweeps find nothing more; the station's own report of the same expiry (2.0.1
    # H01.FR.17) and a 1.6 start naming the expired reservation change nothing either.
    assert await expire_due(db_sessionmaker, Settings(), now=now + timedelta(seconds=1)) == []
    dispatcher = _dispatcher(db_sessionmaker)
    outcomes = await dispatcher(
        [
            _call(
                cp201,
                OCPP201,
                "ReservationStatusUpdate",
                {"reservationId": 1, "reservationUpdateStatus": "Expired"},
            ),
            _call(
                cp16,
                OCPP16,
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": "TAG-1",
                    "meterStart": 0,
                    "timestamp": now.isoformat(),
                    "reservationId": 1,
                },
            ),
        ]
    )
    assert outcomes[0] is None
    assert await _states(sql, cp201) == [(1, "Expired"), (2, "Expired")]
    assert await _states(sql, cp16) == [(1, "Expired"), (2, "Active"), (3, "Used")]
    assert [t for t, _ in await _events(sql, cp201)] == ["reservation.expired"] * 2
    assert "reservation.used" not in [t for t, _ in await _events(sql, cp16)]


async def test_a_station_report_first_leaves_the_sweep_nothing_to_emit(
    db_sessionmaker: async_sessionmaker[AsyncSession], sql: Sql
) -> None:
    cp = await _chargepoint(sql, "CP-EXPRSU", OCPP201)
    now = datetime.now(UTC)
    await _reserve(sql, cp, 5, now - timedelta(seconds=1))
    report = _call(
        cp,
        OCPP201,
        "ReservationStatusUpdate",
        {"reservationId": 5, "reservationUpdateStatus": "Expired"},
    )
    # The report and two sweeps at the same moment: whichever ends it, one event.
    await asyncio.gather(
        _dispatcher(db_sessionmaker)([report]),
        expire_due(db_sessionmaker, Settings(), now=now),
        expire_due(db_sessionmaker, Settings(), now=now),
    )
    assert await _states(sql, cp) == [(5, "Expired")]
    events = await _events(sql, cp)
    assert [t for t, _ in events] == ["reservation.expired"]
    assert events[0][1]["source"] in ("csms", "chargepoint")
