"""`/chargepoints/{id}/variables`, `/monitors`, `/display-messages`, `/reports`: what an
OCPP 2.0.1 station reported of its device model (docs/data-model.md "Device model").

The device model, monitors and reports are configuration: admins and operators read them
(as the command log). Display messages are what the station shows anyone: every role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.api.chargepoints.router import ChargePointId
from services.api.common import INT32_MAX
from services.api.deps import CurrentUser, OperatorUser, SessionDep
from services.api.devicemodel import service
from services.api.devicemodel.schemas import (
    DisplayMessageRead,
    MonitorRead,
    ReportKind,
    ReportRead,
    ReportStatus,
    VariableRead,
)
from services.api.errors import error_responses
from services.api.pagination import Page, PageParams, sort_param

router = APIRouter(prefix="/chargepoints", tags=["device model"])

VariablePage = Annotated[PageParams, Depends(sort_param(service.VARIABLE_SORT_FIELDS, "component"))]
MonitorPage = Annotated[PageParams, Depends(sort_param(service.MONITOR_SORT_FIELDS, "id"))]
MessagePage = Annotated[PageParams, Depends(sort_param(service.MESSAGE_SORT_FIELDS, "id"))]
ReportPage = Annotated[PageParams, Depends(sort_param(service.REPORT_SORT_FIELDS, "-requested_at"))]
Name = Annotated[
    str | None, Query(min_length=1, max_length=50, description="Case-insensitive name.")
]
Number = Annotated[int | None, Query(ge=0, le=INT32_MAX)]


@router.get(
    "/{chargepoint_id}/variables",
    response_model=Page[VariableRead],
    responses=error_responses(401, 403, 404, 422),
)
async def list_variables(
    _: OperatorUser,
    session: SessionDep,
    chargepoint_id: ChargePointId,
    page: VariablePage,
    component: Name = None,
    variable: Name = None,
    evse: Number = None,
    connector: Number = None,
) -> Page[VariableRead]:
    """The station's variables with their attributes (Actual, Target, MinSet, MaxSet) and
    characteristics, from NotifyReport and the GetVariables / SetVariables results."""
    items, total = await service.list_variables(
        session=session,
        chargepoint_id=chargepoint_id,
        params=page,
        component=component,
        variable=variable,
        evse=evse,
        connector=connector,
    )
    return Page[VariableRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{chargepoint_id}/monitors",
    response_model=Page[MonitorRead],
    responses=error_responses(401, 403, 404, 422),
)
async def list_monitors(
    _: OperatorUser,
    session: SessionDep,
    chargepoint_id: ChargePointId,
    page: MonitorPage,
    component: Name = None,
    variable: Name = None,
    evse: Number = None,
) -> Page[MonitorRead]:
    """The station's variable monitors (NotifyMonitoringReport, SetVariableMonitoring)."""
    items, total = await service.list_monitors(
        session=session,
        chargepoint_id=chargepoint_id,
        params=page,
        component=component,
        variable=variable,
        evse=evse,
    )
    return Page[MonitorRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{chargepoint_id}/display-messages",
    response_model=Page[DisplayMessageRead],
    responses=error_responses(401, 404, 422),
)
async def list_display_messages(
    _: CurrentUser,
    session: SessionDep,
    chargepoint_id: ChargePointId,
    page: MessagePage,
    priority: Annotated[str | None, Query(pattern="^(AlwaysFront|InFront|NormalCycle)$")] = None,
    state: Annotated[str | None, Query(pattern="^(Charging|Faulted|Idle|Unavailable)$")] = None,
) -> Page[DisplayMessageRead]:
    """The messages the station shows (NotifyDisplayMessages, SetDisplayMessage,
    ClearDisplayMessage)."""
    items, total = await service.list_display_messages(
        session=session, chargepoint_id=chargepoint_id, params=page, priority=priority, state=state
    )
    return Page[DisplayMessageRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{chargepoint_id}/reports",
    response_model=Page[ReportRead],
    responses=error_responses(401, 403, 404, 422),
)
async def list_reports(
    _: OperatorUser,
    session: SessionDep,
    chargepoint_id: ChargePointId,
    page: ReportPage,
    kind: ReportKind | None = None,
    status: ReportStatus | None = None,
) -> Page[ReportRead]:
    """The reports asked of the station (GetBaseReport, GetReport, GetMonitoringReport,
    CustomerInformation, GetDisplayMessages) with their status and part counts."""
    items, total = await service.list_reports(
        session=session, chargepoint_id=chargepoint_id, params=page, kind=kind, status=status
    )
    return Page[ReportRead](items=items, total=total, limit=page.limit, offset=page.offset)
