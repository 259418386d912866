"""Reads of the certificate tables."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.commands.service import require_known_chargepoint
from shared.db.models import InstalledCertificate, IssuedCertificate

MAX_ISSUED = 100
"""Issued certificates listed (the newest)."""


async def certificates(
    *, session: AsyncSession, chargepoint_id: str
) -> tuple[Sequence[IssuedCertificate], Sequence[InstalledCertificate]]:
    """(issued, newest first; installed, by type and serial); NotFound for an unknown id."""
    await require_known_chargepoint(session=session, chargepoint_id=chargepoint_id)
    issued = (
        await session.scalars(
            select(IssuedCertificate)
            .where(IssuedCertificate.chargepoint_id == chargepoint_id)
            .order_by(IssuedCertificate.created_at.desc(), IssuedCertificate.id)
            .limit(MAX_ISSUED)
        )
    ).all()
    installed = (
        await session.scalars(
            select(InstalledCertificate)
            .where(InstalledCertificate.chargepoint_id == chargepoint_id)
            .order_by(InstalledCertificate.certificate_type, InstalledCertificate.serial_number)
        )
    ).all()
    return issued, installed
