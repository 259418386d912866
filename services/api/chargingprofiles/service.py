"""Charging profiles (read; definitions are written by the charging work)."""

from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.api.chargingprofiles.schemas import (
    ChargingProfileCreate,
    ChargingProfileUpdate,
    CompositePeriodRead,
    CompositeScheduleRead,
    InstallResult,
    PeriodIn,
)
from services.api.errors import ApiError, ErrorDetail, NotFound, Unprocessable
from services.api.pagination import PageParams, paginate, paginate_log
from shared.bus.errors import BusError, RpcTimeout, Unroutable
from shared.bus.topology import EVENTS
from shared.charging.balancing import BALANCING_STACK_LEVEL, balancing_profile_id
from shared.charging.profiles import to_schedule_profile
from shared.charging.schedule import (
    CHARGE_POINT_MAX,
    STATION_MAX,
    TX_DEFAULT,
    TX_PROFILE,
    Period,
    Profile,
)
from shared.charging.schedule import Transaction as ScheduleTransaction
from shared.charging.schedule import composite_schedule as compute_composite
from shared.charging.validation import validate_profile
from shared.commands import CommandBus
from shared.db.models import (
    BalancingAllocation,
    BalancingDecision,
    ChargePoint,
    ChargingProfile,
    Location,
    Transaction,
)
from shared.envelope import Envelope, Kind

log = logging.getLogger(__name__)

SORT_FIELDS = ("chargingprofile_id", "stack_level", "created_at")
_COLUMNS = {
    "chargingprofile_id": ChargingProfile.chargingprofile_id,
    "stack_level": ChargingProfile.stack_level,
    "created_at": ChargingProfile.created_at,
}


async def list_profiles(
    *,
    session: AsyncSession,
    params: PageParams,
    chargepoint_id: str | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    transaction_id: int | None = None,
) -> tuple[list[ChargingProfile], int]:
    """Charging profiles matching the filters."""
    stmt = select(ChargingProfile)
    if chargepoint_id is not None:
        stmt = stmt.where(ChargingProfile.chargepoint_id == chargepoint_id)
    if connector_id is not None:
        stmt = stmt.where(ChargingProfile.connector_id == connector_id)
    if purpose is not None:
        stmt = stmt.where(ChargingProfile.chargingprofile_purpose == purpose)
    if transaction_id is not None:
        stmt = stmt.where(ChargingProfile.transaction_id == transaction_id)
    return await paginate(
        session, stmt, params=params, columns=_COLUMNS, tiebreak=ChargingProfile.chargingprofile_id
    )


async def get_profile(*, session: AsyncSession, chargingprofile_id: int) -> ChargingProfile:
    """The profile with its installations, or NotFound."""
    stmt = (
        select(ChargingProfile)
        .where(ChargingProfile.chargingprofile_id == chargingprofile_id)
        .options(selectinload(ChargingProfile.installations))
    )
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound("charging profile", chargingprofile_id)
    return row


# ------------------------------------------------------------------------------ write side
#
# Definitions are written here (the API owns `charging_profile`); installing and clearing go
# through the charging service (RPC on csms.events, services/charging/handlers/profiles.py),
# which owns `charging_profile_installation`. The validation and schedule code is the
# charging service's own pure modules, so the API and the service apply the same rules.


def _period_dicts(periods: list[PeriodIn]) -> list[dict[str, Any]]:
    out = []
    for p in periods:
        item: dict[str, Any] = {"startPeriod": p.start_period, "limit": p.limit}
        if p.number_phases is not None:
            item["numberPhases"] = p.number_phases
        out.append(item)
    return out


async def _active_transaction(
    session: AsyncSession, chargepoint_id: str, connector_id: int
) -> Transaction | None:
    return await session.scalar(
        select(Transaction)
        .where(
            Transaction.chargepoint_id == chargepoint_id,
            Transaction.connectorid == connector_id,
            Transaction.status == "Active",
        )
        .order_by(Transaction.start_transaction_timestamp.desc())
        .limit(1)
    )


async def _validate(session: AsyncSession, row: ChargingProfile) -> None:
    """Apply the OCPP 1.6 rules (services/charging/validation.py); 422 with every problem."""
    assert row.chargepoint_id is not None
    connector_id = row.connector_id or 0
    active = (
        await _active_transaction(session, row.chargepoint_id, connector_id)
        if connector_id
        else None
    )
    if (
        row.chargingprofile_purpose == TX_PROFILE
        and row.transaction_id is None
        and active is not None
    ):
        row.transaction_id = active.transaction_id
    others = await session.scalars(
        select(ChargingProfile)
        .outerjoin(Transaction, Transaction.transaction_id == ChargingProfile.transaction_id)
        .where(
            ChargingProfile.chargepoint_id == row.chargepoint_id,
            ChargingProfile.connector_id == connector_id,
            ChargingProfile.chargingprofile_id != (row.chargingprofile_id or 0),
            or_(ChargingProfile.transaction_id.is_(None), Transaction.status == "Active"),
        )
    )
    location = await session.scalar(
        select(Location)
        .join(ChargePoint, ChargePoint.location_uuid == Location.uuid)
        .where(ChargePoint.chargepoint_id == row.chargepoint_id)
    )
    balanced = location is not None and location.grid_limit is not None
    problems = validate_profile(
        to_schedule_profile(row),
        active_transaction_id=active.transaction_id if active is not None else None,
        siblings=[to_schedule_profile(o) for o in others],
        reserved_stack_level=BALANCING_STACK_LEVEL if balanced else None,
    )
    if problems:
        details = [ErrorDetail(field=f"body.{p.field}", message=p.message) for p in problems]
        raise ApiError(
            "invalid charging profile: " + "; ".join(f"{p.field}: {p.message}" for p in problems),
            details=details,
        ) from None


class InvalidProfile(ApiError):
    """422: the profile breaks an OCPP 1.6 rule."""

    status_code = 422
    code = "validation_error"


async def create_profile(*, session: AsyncSession, data: ChargingProfileCreate) -> ChargingProfile:
    """Validate and store a new profile (not yet installed)."""
    if await session.get(ChargePoint, data.chargepoint_id) is None:
        raise Unprocessable("body.chargepoint_id", f"charge point {data.chargepoint_id} not found")
    row = ChargingProfile(
        chargepoint_id=data.chargepoint_id,
        connector_id=data.connector_id,
        transaction_id=data.transaction_id,
        stack_level=data.stack_level,
        chargingprofile_purpose=data.chargingprofile_purpose,
        chargingprofile_kind=data.chargingprofile_kind,
        recurrency_kind=data.recurrency_kind,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        duration=data.duration,
        start_schedule=data.start_schedule,
        charging_rate_unit=data.charging_rate_unit,
        chargingschedule_period=_period_dicts(data.chargingschedule_period),
        min_charging_rate=(
            Decimal(str(data.min_charging_rate)) if data.min_charging_rate is not None else None
        ),
        description=data.description,
    )
    await _validate_or_422(session, row)
    session.add(row)
    await session.commit()
    return row


async def _validate_or_422(session: AsyncSession, row: ChargingProfile) -> None:
    try:
        await _validate(session, row)
    except ApiError as exc:
        raise InvalidProfile(exc.message, details=exc.details) from None


async def update_profile(
    *, session: AsyncSession, chargingprofile_id: int, data: ChargingProfileUpdate
) -> ChargingProfile:
    """Apply changes, validate the result, store it."""
    row = await session.get(ChargingProfile, chargingprofile_id)
    if row is None:
        raise NotFound("charging profile", chargingprofile_id)
    if row.chargepoint_id is None:
        raise Unprocessable("chargepoint_id", "the profile has no target charge point")
    changes = data.model_dump(exclude_unset=True)
    if "chargingschedule_period" in changes:
        if data.chargingschedule_period is None:
            raise Unprocessable("body.chargingschedule_period", "may not be null")
        changes["chargingschedule_period"] = _period_dicts(data.chargingschedule_period)
    if changes.get("min_charging_rate") is not None:
        changes["min_charging_rate"] = Decimal(str(changes["min_charging_rate"]))
    for required in (
        "stack_level",
        "chargingprofile_purpose",
        "chargingprofile_kind",
        "charging_rate_unit",
    ):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"body.{required}", "may not be null")
    for key, value in changes.items():
        setattr(row, key, value)
    await _validate_or_422(session, row)
    await session.commit()
    return row


async def delete_profile(*, session: AsyncSession, chargingprofile_id: int) -> None:
    """Delete the definition (its installations go with it)."""
    row = await session.get(ChargingProfile, chargingprofile_id)
    if row is None:
        raise NotFound("charging profile", chargingprofile_id)
    await session.delete(row)
    await session.commit()


async def ask_charging_service(
    bus: CommandBus | None, action: str, chargingprofile_id: int, *, timeout: float
) -> InstallResult:
    """Ask the charging service to install / clear a stored profile; wait for its answer.

    No broker, no charging service (unroutable) or no answer in time: `Pending`; the
    profile is stored and the charging service installs it at the charge point's next
    connection (ChargePointMax / TxDefault) or when it is written again.
    """
    if bus is None:
        return InstallResult(status="Pending", outcome="broker unavailable")
    request = Envelope(
        kind=Kind.CALL,
        action=action,
        payload={"chargingprofile_id": chargingprofile_id},
        correlation_id=uuid.uuid4().hex,
    )
    try:
        reply = await bus.rpc(EVENTS, action, request, timeout=timeout, mandatory=True)
    except Unroutable:
        return InstallResult(status="Pending", outcome="charging service not running")
    except RpcTimeout:
        return InstallResult(status="Pending", outcome="no answer from the charging service")
    except BusError as exc:
        log.warning("%s of profile %s not requested: %r", action, chargingprofile_id, exc)
        return InstallResult(status="Pending", outcome="broker unavailable")
    if reply.kind is Kind.ERROR:
        return InstallResult(status="Pending", outcome=reply.error_description or "error")
    return InstallResult(
        status=str(reply.payload.get("status", "Pending")), outcome=reply.payload.get("outcome")
    )


async def composite_schedule(
    *,
    session: AsyncSession,
    chargepoint_id: str,
    connector_id: int,
    duration: int,
    unit: str,
    start: datetime,
) -> CompositeScheduleRead:
    """The composite schedule from the stored profiles and the load balancer's limit."""
    if await session.get(ChargePoint, chargepoint_id) is None:
        raise NotFound("charge point", chargepoint_id)
    rows = list(
        await session.scalars(
            select(ChargingProfile).where(ChargingProfile.chargepoint_id == chargepoint_id)
        )
    )
    active = (
        await _active_transaction(session, chargepoint_id, connector_id) if connector_id else None
    )
    profiles = [
        to_schedule_profile(r)
        for r in rows
        if r.chargingprofile_purpose in (CHARGE_POINT_MAX, STATION_MAX, TX_DEFAULT, TX_PROFILE)
        and (
            r.chargingprofile_purpose != TX_PROFILE
            or (active is not None and r.transaction_id in (None, active.transaction_id))
        )
    ]
    tx: ScheduleTransaction | None = None
    if active is not None:
        tx = ScheduleTransaction(active.start_transaction_timestamp, active.transaction_id)
        allocation = await session.get(BalancingAllocation, active.transaction_id)
        if allocation is not None and allocation.installed_limit is not None:
            profiles.append(
                Profile(
                    profile_id=balancing_profile_id(connector_id),
                    connector_id=connector_id,
                    stack_level=BALANCING_STACK_LEVEL,
                    purpose=TX_PROFILE,
                    kind="Relative",
                    unit=allocation_unit(await session.get(Location, allocation.location_uuid)),
                    periods=(Period(0, float(allocation.installed_limit)),),
                    transaction_id=active.transaction_id,
                )
            )
    schedule = compute_composite(
        profiles,
        connector_id=connector_id,
        start=start,
        duration=duration,
        unit=unit,
        transaction=tx,
    )
    return CompositeScheduleRead(
        chargepoint_id=chargepoint_id,
        connector_id=connector_id,
        schedule_start=start,
        duration=duration,
        charging_rate_unit=unit,
        transaction_id=active.transaction_id if active is not None else None,
        periods=[
            CompositePeriodRead(
                start_period=p.start_period,
                limit=None if p.limit is None else math.floor(p.limit * 10 + 1e-9) / 10,
                number_phases=p.number_phases,
            )
            for p in schedule.periods
        ],
    )


def allocation_unit(location: Location | None) -> str:
    """The unit the load balancer installs limits in at `location`."""
    return (location.grid_limit_unit if location is not None else None) or "A"


DECISION_TIME_FIELD = "computed_at"


async def list_decisions(
    *,
    session: AsyncSession,
    params: PageParams,
    location_uuid: uuid.UUID | None = None,
    chargepoint_id: str | None = None,
) -> tuple[list[BalancingDecision], int, bool, str | None]:
    """Recorded load-balancing decisions, filtered by location or triggering charge point."""
    stmt = select(BalancingDecision)
    if location_uuid is not None:
        stmt = stmt.where(BalancingDecision.location_uuid == location_uuid)
    if chargepoint_id is not None:
        stmt = stmt.where(BalancingDecision.chargepoint_id == chargepoint_id)
    return await paginate_log(
        session,
        stmt,
        params=params,
        column=BalancingDecision.computed_at,
        tiebreak=BalancingDecision.id,
    )
