"""`/charging-profiles` (operators and admins), composite schedules, balancing decisions.

Three routers: `router` (`/charging-profiles`), `composite_router`
(`/chargepoints/{id}/connectors/{n}/composite-schedule`) and `decisions_router`
(`/balancing-decisions`); app.py includes each under `/api/v1`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.api.chargingprofiles import service
from services.api.chargingprofiles.schemas import (
    BalancingDecisionRead,
    ChargingProfileCreate,
    ChargingProfileDetail,
    ChargingProfileRead,
    ChargingProfileUpdate,
    ChargingProfileWritten,
    CompositeScheduleRead,
    InstallationRead,
    InstallResult,
    Purpose,
)
from services.api.common import INT32_MAX, SafeStr, UtcDateTime
from services.api.deps import OperatorUser, SessionDep, SettingsDep
from services.api.errors import error_responses
from services.api.pagination import (
    LogPage,
    Page,
    PageParams,
    log_page_of,
    log_sort_param,
    sort_param,
)
from shared.charging import CLEAR_PROFILE, INSTALL_PROFILE
from shared.commands import CommandBus
from shared.settings import Settings

router = APIRouter(prefix="/charging-profiles", tags=["charging-profiles"])

RPC_MARGIN_SECONDS: Final = 5.0
MAX_COMPOSITE_DURATION: Final = 31 * 86_400

ProfilePage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "chargingprofile_id"))]
ProfileId = Annotated[int, Path(ge=1, le=INT32_MAX)]


@router.get("", response_model=Page[ChargingProfileRead], responses=error_responses(401, 403, 422))
async def list_profiles(
    _: OperatorUser,
    session: SessionDep,
    page: ProfilePage,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
    connector_id: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    purpose: Purpose | None = None,
    transaction_id: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
) -> Page[ChargingProfileRead]:
    """Charging profiles, filtered by target, purpose, transaction."""
    rows, total = await service.list_profiles(
        session=session,
        params=page,
        chargepoint_id=chargepoint_id,
        connector_id=connector_id,
        purpose=purpose,
        transaction_id=transaction_id,
    )
    return Page[ChargingProfileRead](
        items=[ChargingProfileRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{chargingprofile_id}",
    response_model=ChargingProfileDetail,
    responses=error_responses(401, 403, 404, 422),
)
async def read_profile(
    _: OperatorUser, session: SessionDep, chargingprofile_id: ProfileId
) -> ChargingProfileDetail:
    """One charging profile with where it is installed."""
    row = await service.get_profile(session=session, chargingprofile_id=chargingprofile_id)
    return ChargingProfileDetail(
        **ChargingProfileRead.model_validate(row).model_dump(),
        installations=[InstallationRead.model_validate(i) for i in row.installations],
    )


def _bus(request: Request) -> CommandBus | None:
    bus: CommandBus | None = getattr(request.app.state, "bus", None)
    return bus


def _rpc_timeout(settings: Settings) -> float:
    """The charging service waits up to its command timeout; allow for the hop."""
    return settings.command_timeout + RPC_MARGIN_SECONDS


async def _written(
    session: SessionDep, chargingprofile_id: int, install: InstallResult
) -> ChargingProfileWritten:
    session.expunge_all()
    row = await service.get_profile(session=session, chargingprofile_id=chargingprofile_id)
    return ChargingProfileWritten(
        **ChargingProfileRead.model_validate(row).model_dump(),
        installations=[InstallationRead.model_validate(i) for i in row.installations],
        install=install,
    )


@router.post(
    "",
    status_code=201,
    response_model=ChargingProfileWritten,
    responses=error_responses(401, 403, 422),
)
async def create_profile(
    _: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    body: ChargingProfileCreate,
) -> ChargingProfileWritten:
    """Define a profile (validated per OCPP 1.6 §3.13) and install it through the charging
    service; `install.status` tells whether the charge point accepted it."""
    row = await service.create_profile(session=session, data=body)
    install = await service.ask_charging_service(
        _bus(request), INSTALL_PROFILE, row.chargingprofile_id, timeout=_rpc_timeout(settings)
    )
    return await _written(session, row.chargingprofile_id, install)


@router.patch(
    "/{chargingprofile_id}",
    response_model=ChargingProfileWritten,
    responses=error_responses(401, 403, 404, 422),
)
async def update_profile(
    _: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    chargingprofile_id: ProfileId,
    body: ChargingProfileUpdate,
) -> ChargingProfileWritten:
    """Change a profile and install the new version (same chargingProfileId: it replaces
    the old one on the charge point, OCPP 1.6 §5.16.2)."""
    row = await service.update_profile(
        session=session, chargingprofile_id=chargingprofile_id, data=body
    )
    install = await service.ask_charging_service(
        _bus(request), INSTALL_PROFILE, row.chargingprofile_id, timeout=_rpc_timeout(settings)
    )
    return await _written(session, row.chargingprofile_id, install)


@router.delete(
    "/{chargingprofile_id}",
    status_code=204,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_profile(
    _: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    chargingprofile_id: ProfileId,
) -> Response:
    """Clear the profile where it is installed (ClearChargingProfile), then delete it.

    Header `X-Clear-Status`: Cleared, NotInstalled, Installed (the charge point refused) or
    Pending (offline / charging service unavailable: the charge point may keep it).
    """
    await service.get_profile(session=session, chargingprofile_id=chargingprofile_id)
    cleared = await service.ask_charging_service(
        _bus(request), CLEAR_PROFILE, chargingprofile_id, timeout=_rpc_timeout(settings)
    )
    await service.delete_profile(session=session, chargingprofile_id=chargingprofile_id)
    return Response(status_code=204, headers={"X-Clear-Status": cleared.status})


composite_router = APIRouter(tags=["charging-profiles"])


@composite_router.get(
    "/chargepoints/{chargepoint_id}/connectors/{connector_id}/composite-schedule",
    response_model=CompositeScheduleRead,
    responses=error_responses(401, 403, 404, 422),
)
async def composite_schedule(
    _: OperatorUser,
    session: SessionDep,
    chargepoint_id: Annotated[SafeStr, Path(min_length=1, max_length=255)],
    connector_id: Annotated[int, Path(ge=0, le=INT32_MAX)],
    duration: Annotated[int, Query(ge=1, le=MAX_COMPOSITE_DURATION)] = 86_400,
    unit: Annotated[Literal["A", "W"], Query()] = "A",
    start: Annotated[UtcDateTime | None, Query(description="default: now")] = None,
) -> CompositeScheduleRead:
    """The connector's limit over time, computed from the stored profiles (stack levels,
    purposes, recurrence, validity, the running transaction) without asking the charge
    point; connector 0 is the charge point maximum."""
    return await service.composite_schedule(
        session=session,
        chargepoint_id=chargepoint_id,
        connector_id=connector_id,
        duration=duration,
        unit=unit,
        start=start or datetime.now(UTC),
    )


decisions_router = APIRouter(prefix="/balancing-decisions", tags=["load-balancing"])

DecisionPage = Annotated[PageParams, Depends(log_sort_param(service.DECISION_TIME_FIELD))]


@decisions_router.get(
    "", response_model=LogPage[BalancingDecisionRead], responses=error_responses(401, 403, 422)
)
async def list_decisions(
    _: OperatorUser,
    session: SessionDep,
    page: DecisionPage,
    location_uuid: uuid.UUID | None = None,
    chargepoint_id: Annotated[SafeStr | None, Query(max_length=255)] = None,
) -> LogPage[BalancingDecisionRead]:
    """The load balancer's decisions, newest first: inputs, allocations, what was sent."""
    rows, total, estimated, next_cursor = await service.list_decisions(
        session=session, params=page, location_uuid=location_uuid, chargepoint_id=chargepoint_id
    )
    return log_page_of(BalancingDecisionRead, rows, total, estimated, next_cursor, page)
