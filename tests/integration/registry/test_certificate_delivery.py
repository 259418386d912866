"""The registry's certificate delivery on the test database and broker: an accepted CSR is
signed once and CertificateSigned sent through the command path; a row a lost event left
`requested` is taken up by the sweep; a very old one is given up
(services/registry/certificates.py). No charge point holds a socket here, so the command
ends `offline`: what happens when the station left before its certificate was ready."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.certificates import CertificateDelivery
from shared.bus import Bus
from shared.db.models import ChargePoint, CommandLog, IssuedCertificate
from shared.settings import Settings
from tests.fixtures.pki import make_ca, make_csr

from .helpers import new_cp


async def requested(
    sessionmaker: async_sessionmaker[AsyncSession], cp: str, *, age: timedelta
) -> uuid.UUID:
    row_id = uuid.uuid4()
    async with sessionmaker() as session:
        await session.execute(
            insert(ChargePoint).values(chargepoint_id=cp, ocpp_version="ocpp2.0.1")
        )
        await session.execute(
            insert(IssuedCertificate).values(
                id=row_id,
                chargepoint_id=cp,
                certificate_type="ChargingStationCertificate",
                status="requested",
                csr=make_csr(cp)[0],
                created_at=datetime.now(UTC) - age,
            )
        )
        await session.commit()
    return row_id


async def row_of(sessionmaker: async_sessionmaker[AsyncSession], row_id: uuid.UUID) -> Any:
    async with sessionmaker() as session:
        return await session.get(IssuedCertificate, row_id)


def delivery(
    sessionmaker: async_sessionmaker[AsyncSession], bus: Bus, tmp_path: Path
) -> CertificateDelivery:
    cert, key = make_ca().write(tmp_path, "ca")
    settings = Settings(env="test", ca_cert=str(cert), ca_key=str(key), command_timeout=2)
    return CertificateDelivery(sessionmaker, bus, settings)


async def test_a_requested_row_is_signed_once_and_sent(
    db_sessionmaker: async_sessionmaker[AsyncSession], bus: Bus, tmp_path: Path
) -> None:
    cp = new_cp()
    row_id = await requested(db_sessionmaker, cp, age=timedelta(0))
    worker = delivery(db_sessionmaker, bus, tmp_path)
    await worker.deliver(row_id)
    row = await row_of(db_sessionmaker, row_id)
    assert row.status == "failed"
    assert row.error.startswith("CertificateSigned not connected")
    leaf = x509.load_pem_x509_certificates(row.certificate_chain.encode())[0]
    assert row.serial_number == format(leaf.serial_number, "x")
    assert row.not_after == leaf.not_valid_after_utc
    async with db_sessionmaker() as session:
        log = await session.get(CommandLog, row.command_id)
    assert log is not None
    assert (log.action, log.outcome, log.requested_by) == (
        "CertificateSigned",
        "offline",
        "csms:certificates",
    )
    assert log.request["certificateType"] == "ChargingStationCertificate"
    assert log.request["certificateChain"] == row.certificate_chain
    assert log.seq is not None
    # A repeated event finds the row no longer `requested`: nothing is signed again.
    await worker.deliver(row_id)
    again = await row_of(db_sessionmaker, row_id)
    assert (again.serial_number, again.command_id) == (row.serial_number, row.command_id)


async def test_the_sweep_takes_up_lost_requests_and_gives_up_old_ones(
    db_sessionmaker: async_sessionmaker[AsyncSession], bus: Bus, tmp_path: Path
) -> None:
    fresh = await requested(db_sessionmaker, new_cp(), age=timedelta(seconds=1))
    lost = await requested(db_sessionmaker, new_cp(), age=timedelta(minutes=5))
    ancient = await requested(db_sessionmaker, new_cp(), age=timedelta(days=2))
    worker = delivery(db_sessionmaker, bus, tmp_path)
    await worker.sweep()
    assert (await row_of(db_sessionmaker, fresh)).status == "requested"  # its event may come
    swept = await row_of(db_sessionmaker, lost)
    assert swept.status == "failed" and swept.serial_number is not None  # signed, then offline
    given_up = await row_of(db_sessionmaker, ancient)
    assert (given_up.status, given_up.serial_number) == ("failed", None)
    assert given_up.error == "never signed (the request was lost)"
    async with db_sessionmaker() as session:
        statuses = (
            await session.scalars(
                select(IssuedCertificate.status).where(IssuedCertificate.id == fresh)
            )
        ).all()
    assert statuses == ["requested"]
