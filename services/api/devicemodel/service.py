"""Reads of the OCPP 2.0.1 device model, reports and display messages of a station."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.chargepoints.service import get_chargepoint
from services.api.devicemodel.schemas import (
    AttributeRead,
    CharacteristicsRead,
    ComponentRead,
    DisplayMessageRead,
    MonitorRead,
    ReportRead,
    VariableRead,
)
from services.api.pagination import PageParams, order_by
from shared.db.models import (
    DeviceComponent,
    DeviceMonitor,
    DeviceReport,
    DeviceReportPart,
    DeviceVariable,
    DeviceVariableAttribute,
    DisplayMessage,
)

VARIABLE_SORT_FIELDS = ("component", "variable", "evse_id", "updated_at")
_VARIABLE_COLUMNS = {
    "component": DeviceComponent.name,
    "variable": DeviceVariable.name,
    "evse_id": DeviceComponent.evse_id,
    "updated_at": DeviceVariable.updated_at,
}
MONITOR_SORT_FIELDS = ("id", "severity", "updated_at")
_MONITOR_COLUMNS = {
    "id": DeviceMonitor.monitor_id,
    "severity": DeviceMonitor.severity,
    "updated_at": DeviceMonitor.updated_at,
}
MESSAGE_SORT_FIELDS = ("id", "priority", "updated_at")
_MESSAGE_COLUMNS = {
    "id": DisplayMessage.message_id,
    "priority": DisplayMessage.priority,
    "updated_at": DisplayMessage.updated_at,
}
REPORT_SORT_FIELDS = ("requested_at", "updated_at", "request_id")
_REPORT_COLUMNS = {
    "requested_at": DeviceReport.requested_at,
    "updated_at": DeviceReport.updated_at,
    "request_id": DeviceReport.request_id,
}


async def _page(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    params: PageParams,
    columns: Any,
    tiebreak: Any,
    then: tuple[Any, ...] = (),
) -> tuple[list[Any], int]:
    """One page of `stmt` ordered by the sort column, then `then`, then `tiebreak`."""
    total_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = int((await session.execute(total_stmt)).scalar_one())
    first, last = order_by(params.sort, columns, tiebreak)
    page = stmt.order_by(first, *then, last).limit(params.limit).offset(params.offset)
    return list((await session.execute(page)).all()), total


def _component(c: DeviceComponent) -> ComponentRead:
    return ComponentRead(
        name=c.name, instance=c.instance, evse_id=c.evse_id, connector_id=c.connector_id
    )


async def list_variables(
    *,
    session: AsyncSession,
    chargepoint_id: str,
    params: PageParams,
    component: str | None = None,
    variable: str | None = None,
    evse: int | None = None,
    connector: int | None = None,
) -> tuple[list[VariableRead], int]:
    """A station's variables (names compared case-insensitively), with their attributes."""
    await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    stmt = (
        select(DeviceVariable, DeviceComponent)
        .join(DeviceComponent, DeviceComponent.id == DeviceVariable.component_id)
        .where(DeviceVariable.chargepoint_id == chargepoint_id)
    )
    if component is not None:
        stmt = stmt.where(func.lower(DeviceComponent.name) == component.lower())
    if variable is not None:
        stmt = stmt.where(func.lower(DeviceVariable.name) == variable.lower())
    if evse is not None:
        stmt = stmt.where(DeviceComponent.evse_id == evse)
    if connector is not None:
        stmt = stmt.where(DeviceComponent.connector_id == connector)
    # Within the sort column: the component's EVSE and connector, then the variable's name.
    then = (
        DeviceComponent.name,
        DeviceComponent.instance.asc().nulls_first(),
        DeviceComponent.evse_id.asc().nulls_first(),
        DeviceComponent.connector_id.asc().nulls_first(),
        DeviceVariable.name,
        DeviceVariable.instance.asc().nulls_first(),
    )
    rows, total = await _page(
        session, stmt, params, _VARIABLE_COLUMNS, DeviceVariable.id, then=then
    )
    ids = [v.id for v, _ in rows]
    attributes: dict[int, list[AttributeRead]] = {i: [] for i in ids}
    if ids:
        found = await session.scalars(
            select(DeviceVariableAttribute)
            .where(DeviceVariableAttribute.variable_id.in_(ids))
            .order_by(DeviceVariableAttribute.variable_id, DeviceVariableAttribute.type)
        )
        for a in found:
            attributes[a.variable_id].append(AttributeRead.model_validate(a))
    items = [
        VariableRead(
            id=v.id,
            component=_component(c),
            name=v.name,
            instance=v.instance,
            characteristics=(
                CharacteristicsRead.model_validate(v) if v.data_type is not None else None
            ),
            attributes=attributes[v.id],
            updated_at=v.updated_at,
        )
        for v, c in rows
    ]
    return items, total


async def list_monitors(
    *,
    session: AsyncSession,
    chargepoint_id: str,
    params: PageParams,
    component: str | None = None,
    variable: str | None = None,
    evse: int | None = None,
) -> tuple[list[MonitorRead], int]:
    """A station's variable monitors."""
    await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    stmt = (
        select(DeviceMonitor, DeviceVariable, DeviceComponent)
        .join(DeviceVariable, DeviceVariable.id == DeviceMonitor.variable_id)
        .join(DeviceComponent, DeviceComponent.id == DeviceVariable.component_id)
        .where(DeviceMonitor.chargepoint_id == chargepoint_id)
    )
    if component is not None:
        stmt = stmt.where(func.lower(DeviceComponent.name) == component.lower())
    if variable is not None:
        stmt = stmt.where(func.lower(DeviceVariable.name) == variable.lower())
    if evse is not None:
        stmt = stmt.where(DeviceComponent.evse_id == evse)
    rows, total = await _page(session, stmt, params, _MONITOR_COLUMNS, DeviceMonitor.monitor_id)
    items = [
        MonitorRead(
            id=m.monitor_id,
            component=_component(c),
            variable=v.name,
            variable_instance=v.instance,
            transaction=m.transaction,
            value=m.value,
            type=m.type,
            severity=m.severity,
            origin=m.origin,
            updated_at=m.updated_at,
        )
        for m, v, c in rows
    ]
    return items, total


async def list_display_messages(
    *,
    session: AsyncSession,
    chargepoint_id: str,
    params: PageParams,
    priority: str | None = None,
    state: str | None = None,
) -> tuple[list[DisplayMessageRead], int]:
    """The messages a station shows."""
    await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    stmt = select(DisplayMessage).where(DisplayMessage.chargepoint_id == chargepoint_id)
    if priority is not None:
        stmt = stmt.where(DisplayMessage.priority == priority)
    if state is not None:
        stmt = stmt.where(DisplayMessage.state == state)
    rows, total = await _page(session, stmt, params, _MESSAGE_COLUMNS, DisplayMessage.message_id)
    items = [DisplayMessageRead.model_validate({**_attrs(m), "id": m.message_id}) for (m,) in rows]
    return items, total


def _attrs(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


async def list_reports(
    *,
    session: AsyncSession,
    chargepoint_id: str,
    params: PageParams,
    kind: str | None = None,
    status: str | None = None,
) -> tuple[list[ReportRead], int]:
    """The reports asked of a station, with their part counts (and customer data text)."""
    await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    part = DeviceReportPart
    joined = (
        (part.chargepoint_id == DeviceReport.chargepoint_id)
        & (part.kind == DeviceReport.kind)
        & (part.request_id == DeviceReport.request_id)
    )
    items_count = select(func.coalesce(func.sum(part.items), 0)).where(joined).scalar_subquery()
    text = (
        select(func.string_agg(part.data, aggregate_order_by(literal(""), part.seq_no)))
        .where(joined)
        .scalar_subquery()
    )
    stmt = select(DeviceReport, items_count.label("items"), text.label("text")).where(
        DeviceReport.chargepoint_id == chargepoint_id
    )
    if kind is not None:
        stmt = stmt.where(DeviceReport.kind == kind)
    if status is not None:
        stmt = stmt.where(DeviceReport.status == status)
    rows, total = await _page(session, stmt, params, _REPORT_COLUMNS, DeviceReport.request_id)
    items = [
        ReportRead.model_validate(
            {
                **_attrs(r),
                "items": int(n),
                "text": t if r.kind == "NotifyCustomerInformation" else None,
            }
        )
        for r, n, t in rows
    ]
    return items, total
