"""Charge point provisioning, registration status, decommissioning; connectors (read)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.api import security
from services.api.chargepoints.schemas import ChargePointCreate, ChargePointUpdate
from services.api.errors import Conflict, NotFound, Unprocessable
from services.api.pagination import PageParams, paginate
from shared.db.models import ChargePoint, Connector, Location
from shared.events.outbox import stage
from shared.events.projection import registration_changed

SORT_FIELDS = ("chargepoint_id", "last_heartbeat", "created_at", "registration_status")
_COLUMNS = {
    "chargepoint_id": ChargePoint.chargepoint_id,
    "last_heartbeat": ChargePoint.last_heartbeat,
    "created_at": ChargePoint.created_at,
    "registration_status": ChargePoint.registration_status,
}

CONNECTOR_SORT_FIELDS = ("connectorid", "connector_status", "status_timestamp")
_CONNECTOR_COLUMNS = {
    "connectorid": Connector.connectorid,
    "connector_status": Connector.connector_status,
    "status_timestamp": Connector.status_timestamp,
}


async def list_chargepoints(
    *,
    session: AsyncSession,
    params: PageParams,
    connected: bool | None = None,
    status: str | None = None,
    location_id: uuid.UUID | None = None,
    registration_status: str | None = None,
    ocpp_version: str | None = None,
    include_decommissioned: bool = False,
) -> tuple[list[ChargePoint], int]:
    """Charge points matching the filters; decommissioned ones only on request."""
    stmt = select(ChargePoint)
    if connected is not None:
        stmt = stmt.where(ChargePoint.connected.is_(connected))
    if status is not None:
        stmt = stmt.where(ChargePoint.chargepoint_status == status)
    if location_id is not None:
        stmt = stmt.where(ChargePoint.location_uuid == location_id)
    if registration_status is not None:
        stmt = stmt.where(ChargePoint.registration_status == registration_status)
    if ocpp_version is not None:
        stmt = stmt.where(ChargePoint.ocpp_version == ocpp_version)
    if not include_decommissioned:
        stmt = stmt.where(ChargePoint.decommissioned_at.is_(None))
    return await paginate(
        session, stmt, params=params, columns=_COLUMNS, tiebreak=ChargePoint.chargepoint_id
    )


async def get_chargepoint(
    *, session: AsyncSession, chargepoint_id: str, with_connectors: bool = False
) -> ChargePoint:
    """The charge point (optionally with connectors loaded), or NotFound."""
    stmt = select(ChargePoint).where(ChargePoint.chargepoint_id == chargepoint_id)
    if with_connectors:
        stmt = stmt.options(selectinload(ChargePoint.connectors))
    chargepoint = await session.scalar(stmt)
    if chargepoint is None:
        raise NotFound("charge point", chargepoint_id)
    return chargepoint


async def _check_location(session: AsyncSession, location_id: uuid.UUID) -> None:
    if await session.get(Location, location_id) is None:
        raise Unprocessable("body.location_id", f"location {location_id} does not exist")


async def _hash(session: AsyncSession, password: str | None) -> str | None:
    """argon2 in a worker thread, with no database connection held; None: no password."""
    if not password:
        return None
    await security.end_read_transaction(session)
    return await security.hash_password_async(password)


async def _commit(session: AsyncSession, message: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(message) from None


def _needs_password(profile: int | None) -> bool:
    """Profiles 1 and 2 authenticate with HTTP Basic: a password must be set."""
    return profile in (1, 2)


async def provision(*, session: AsyncSession, data: ChargePointCreate) -> ChargePoint:
    """Provision a charge point; a decommissioned one with that id is re-provisioned."""
    profile = data.security_profile
    if profile is None:
        profile = 1 if data.password is not None else 0
    if _needs_password(profile) and data.password is None:
        raise Unprocessable("password", f"security profile {profile} needs a password")
    await _check_location(session, data.location_id)
    existing = await session.get(ChargePoint, data.chargepoint_id)
    if existing is not None and existing.decommissioned_at is None:
        raise Conflict(f"charge point {data.chargepoint_id} exists")
    # Checked; nothing changed yet: argon2 with no connection held, then the writes.
    password_hash = await _hash(session, data.password)
    if existing is not None:
        existing.decommissioned_at = None
        existing.location_uuid = data.location_id
        existing.registration_status = data.registration_status
        existing.password_hash = password_hash
        existing.security_profile = profile
        existing.pending_security_profile = None
    else:
        session.add(
            ChargePoint(
                chargepoint_id=data.chargepoint_id,
                location_uuid=data.location_id,
                registration_status=data.registration_status,
                password_hash=password_hash,
                security_profile=profile,
                connected=False,
            )
        )
    await _commit(session, f"charge point {data.chargepoint_id} exists")
    session.expunge_all()
    return await get_chargepoint(
        session=session, chargepoint_id=data.chargepoint_id, with_connectors=True
    )


async def update(
    *, session: AsyncSession, chargepoint_id: str, data: ChargePointUpdate
) -> ChargePoint:
    """Change location, registration status (e.g. accept one that booted unknown), password."""
    changes = data.model_dump(exclude_unset=True)
    chargepoint = await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    if "location_id" in changes and data.location_id is not None:
        await _check_location(session, data.location_id)
    if (
        data.registration_status is not None
        and chargepoint.decommissioned_at is not None
        and data.registration_status != "Rejected"
    ):
        raise Conflict("charge point is decommissioned; provision it again with POST")
    pending = _pending_profile(chargepoint, data, changes)
    # Checked; nothing changed yet: argon2 with no connection held, then the changes.
    new_hash = await _hash(session, data.password) if "password" in changes else None
    if "location_id" in changes:
        chargepoint.location_uuid = data.location_id
    previous = chargepoint.registration_status
    if data.registration_status is not None:
        chargepoint.registration_status = data.registration_status
    if "password" in changes:
        chargepoint.password_hash = new_hash
        if new_hash is not None and chargepoint.security_profile == 0:
            chargepoint.security_profile = 1  # required from the next connection, as before
            if pending == 1:
                pending = None
    chargepoint.pending_security_profile = pending
    if data.registration_status is not None:
        # The row first, the event last: the event_sequence lock is always taken last.
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            raise Conflict("the change conflicts with stored data") from None
        await stage(
            session, registration_changed(chargepoint_id, previous, data.registration_status)
        )
    await _commit(session, "the change conflicts with stored data")
    session.expunge_all()
    return await get_chargepoint(
        session=session, chargepoint_id=chargepoint_id, with_connectors=True
    )


def _pending_profile(
    chargepoint: ChargePoint, data: ChargePointUpdate, changes: dict[str, object]
) -> int | None:
    """The pending profile after the update (refusing downgrades and password-less 1/2)."""
    pending = chargepoint.pending_security_profile
    if "security_profile" in changes and data.security_profile is not None:
        if data.security_profile < chargepoint.security_profile:
            raise Conflict(
                f"security profile {chargepoint.security_profile} is never lowered "
                f"(to {data.security_profile}); provision the charge point anew to start over"
            )
        # The stored profile itself: nothing pending any more.
        pending = (
            None if data.security_profile == chargepoint.security_profile else data.security_profile
        )
    has_password = (
        data.password is not None
        if "password" in changes
        else chargepoint.password_hash is not None
    )
    for profile in (chargepoint.security_profile, pending):
        if _needs_password(profile) and not has_password:
            raise Conflict(f"security profile {profile} needs a password")
    return pending


async def decommission(*, session: AsyncSession, chargepoint_id: str) -> None:
    """Mark the charge point decommissioned and Rejected (its history stays)."""
    chargepoint = await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    if chargepoint.decommissioned_at is None:
        chargepoint.decommissioned_at = datetime.now(UTC)
    previous = chargepoint.registration_status
    chargepoint.registration_status = "Rejected"
    await session.flush()
    await stage(session, registration_changed(chargepoint_id, previous, "Rejected"))
    await session.commit()


async def list_connectors(
    *, session: AsyncSession, chargepoint_id: str, params: PageParams
) -> tuple[list[Connector], int]:
    """The connectors of a charge point."""
    await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    stmt = select(Connector).where(Connector.chargepoint_id == chargepoint_id)
    return await paginate(
        session, stmt, params=params, columns=_CONNECTOR_COLUMNS, tiebreak=Connector.uuid
    )


async def get_connector(
    *, session: AsyncSession, chargepoint_id: str, connectorid: int
) -> Connector:
    """One connector by its number, or NotFound."""
    connector = await session.scalar(
        select(Connector).where(
            Connector.chargepoint_id == chargepoint_id, Connector.connectorid == connectorid
        )
    )
    if connector is None:
        raise NotFound(f"connector of charge point {chargepoint_id}", connectorid)
    return connector
