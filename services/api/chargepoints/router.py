"""`/chargepoints`: provisioning, registration, decommissioning; `/connectors` beneath."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import Response

from services.api.chargepoints import service
from services.api.chargepoints.schemas import (
    ChargePointCreate,
    ChargePointDetail,
    ChargePointRead,
    ChargePointUpdate,
    ConnectorRead,
    RegistrationStatus,
)
from services.api.common import INT32_MAX, SafeStr
from services.api.deps import CurrentUser, OperatorUser, SessionDep
from services.api.errors import error_responses
from services.api.pagination import Page, PageParams, sort_param
from shared.db.models import ChargePoint

router = APIRouter(prefix="/chargepoints", tags=["chargepoints"])

ChargePointPage = Annotated[PageParams, Depends(sort_param(service.SORT_FIELDS, "chargepoint_id"))]
ConnectorPage = Annotated[
    PageParams, Depends(sort_param(service.CONNECTOR_SORT_FIELDS, "connectorid"))
]
ChargePointId = Annotated[SafeStr, Path(min_length=1, max_length=255)]
ConnectorNumber = Annotated[int, Path(ge=0, le=INT32_MAX)]
ChargePointStatus = Literal["Available", "Unavailable", "Faulted"]
OcppVersion = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]


def to_read(chargepoint: ChargePoint) -> ChargePointRead:
    """The API view of a charge point row."""
    data = {name: getattr(chargepoint, name, None) for name in ChargePointRead.model_fields}
    data["location_id"] = chargepoint.location_uuid
    data["has_password"] = chargepoint.password_hash is not None
    return ChargePointRead.model_validate(data)


def to_detail(chargepoint: ChargePoint) -> ChargePointDetail:
    """The API view of a charge point with its (loaded) connectors."""
    return ChargePointDetail(
        **to_read(chargepoint).model_dump(),
        connectors=[ConnectorRead.model_validate(c) for c in chargepoint.connectors],
    )


@router.get("", response_model=Page[ChargePointRead], responses=error_responses(401, 422))
async def list_chargepoints(
    _: CurrentUser,
    session: SessionDep,
    page: ChargePointPage,
    connected: bool | None = None,
    status: ChargePointStatus | None = None,
    location_id: uuid.UUID | None = None,
    registration_status: RegistrationStatus | None = None,
    ocpp_version: OcppVersion | None = None,
    include_decommissioned: bool = False,
) -> Page[ChargePointRead]:
    """Charge points, filtered by connected, status, location, registration status, version."""
    rows, total = await service.list_chargepoints(
        session=session,
        params=page,
        connected=connected,
        status=status,
        location_id=location_id,
        registration_status=registration_status,
        ocpp_version=ocpp_version,
        include_decommissioned=include_decommissioned,
    )
    return Page[ChargePointRead](
        items=[to_read(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "",
    response_model=ChargePointDetail,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
async def provision_chargepoint(
    _: OperatorUser, session: SessionDep, body: ChargePointCreate
) -> ChargePointDetail:
    """Provision a charge point at a location, optionally with its OCPP password."""
    return to_detail(await service.provision(session=session, data=body))


@router.get(
    "/{chargepoint_id}",
    response_model=ChargePointDetail,
    responses=error_responses(401, 404, 422),
)
async def read_chargepoint(
    _: CurrentUser, session: SessionDep, chargepoint_id: ChargePointId
) -> ChargePointDetail:
    """A charge point with its connectors and last heartbeat."""
    chargepoint = await service.get_chargepoint(
        session=session, chargepoint_id=chargepoint_id, with_connectors=True
    )
    return to_detail(chargepoint)


@router.patch(
    "/{chargepoint_id}",
    response_model=ChargePointDetail,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_chargepoint(
    _: OperatorUser, session: SessionDep, chargepoint_id: ChargePointId, body: ChargePointUpdate
) -> ChargePointDetail:
    """Set registration status (Pending / Accepted / Rejected), location or password."""
    chargepoint = await service.update(session=session, chargepoint_id=chargepoint_id, data=body)
    return to_detail(chargepoint)


@router.delete(
    "/{chargepoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
async def decommission_chargepoint(
    _: OperatorUser, session: SessionDep, chargepoint_id: ChargePointId
) -> Response:
    """Decommission: the charge point is Rejected from now on; its history stays."""
    await service.decommission(session=session, chargepoint_id=chargepoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{chargepoint_id}/connectors",
    response_model=Page[ConnectorRead],
    responses=error_responses(401, 404, 422),
)
async def list_connectors(
    _: CurrentUser, session: SessionDep, chargepoint_id: ChargePointId, page: ConnectorPage
) -> Page[ConnectorRead]:
    """The connectors of a charge point."""
    rows, total = await service.list_connectors(
        session=session, chargepoint_id=chargepoint_id, params=page
    )
    return Page[ConnectorRead](
        items=[ConnectorRead.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{chargepoint_id}/connectors/{connectorid}",
    response_model=ConnectorRead,
    responses=error_responses(401, 404, 422),
)
async def read_connector(
    _: CurrentUser,
    session: SessionDep,
    chargepoint_id: ChargePointId,
    connectorid: ConnectorNumber,
) -> ConnectorRead:
    """One connector by its number."""
    connector = await service.get_connector(
        session=session, chargepoint_id=chargepoint_id, connectorid=connectorid
    )
    return ConnectorRead.model_validate(connector)
