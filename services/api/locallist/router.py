"""`/chargepoints/{id}/local-list`: send the local list built from the id tags (full or
differential, in the station's version) and read what the station holds."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select

from services.api.commands import service as commands
from services.api.commands.router import (
    COMMAND_ID_HEADER,
    MAX_TIMEOUT,
    ChargePointId,
    Timeout,
    command_paths,
    get_bus,
    run_command,
)
from services.api.common import ApiModel, ReadModel, UtcDateTime
from services.api.deps import OperatorUser, SessionDep, SettingsDep
from services.api.errors import error_responses
from services.api.locallist import service
from shared.db.models import LocalListEntry
from shared.ocpp import OCPP16

router = APIRouter(prefix="/chargepoints", tags=["local-list"])


class LocalListUpdate(ApiModel):
    """Full: every id tag; Differential: only what changed since the list the station
    accepted last (new or changed entries, removed tokens)."""

    update_type: Literal["Full", "Differential"] = "Full"
    max_items: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Entries per SendLocalList at most (the station's SendLocalListMaxLength / "
        "ItemsPerMessageSendLocalList): a longer list goes as several messages (a Full first, "
        "then Differential ones), each with the next version, until one is not Accepted.",
    )


class LocalListSent(ReadModel):
    """What was sent and the station's answer (`status`: Accepted, Failed,
    VersionMismatch, NotSupported)."""

    update_type: str
    list_version: int
    entries: int
    removed: int
    status: str
    messages: int = 1


class LocalListEntryRead(ReadModel):
    """One entry of the list the station accepted (idTagInfo in 1.6 form)."""

    id_token: str
    id_token_type: str | None = None
    info: dict[str, object]
    list_version: int
    updated_at: UtcDateTime


@router.post(
    "/{chargepoint_id}/local-list",
    response_model=LocalListSent,
    responses=error_responses(401, 403, 404, 409, 422, 502, 503, 504),
)
async def send_local_list(
    chargepoint_id: ChargePointId,
    principal: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    body: LocalListUpdate | None = None,
    timeout: Timeout = None,
) -> JSONResponse:
    """Build the local list from the id tags and send it with SendLocalList (1.6) /
    SendLocalList (2.0.1) through the commands path (command log, effects: the entries the
    station accepted are recorded)."""
    update = body or LocalListUpdate()
    version = await commands.chargepoint_version(session=session, chargepoint_id=chargepoint_id)
    ocpp_version = version or OCPP16
    plan = await service.plan(
        session, chargepoint_id, update.update_type, ocpp_version=ocpp_version
    )
    spec = next(s for s in command_paths()["send-local-list"] if s.version == ocpp_version)
    parts = service.split(plan, update.update_type, update.max_items)
    sent: list[service.Plan] = []
    status = ""
    command_id = ""
    for kind, part in parts:
        model = spec.request.model_validate(service.body_for(ocpp_version, part, kind))
        answer = await run_command(
            spec=spec,
            chargepoint_id=chargepoint_id,
            body=model,
            principal=principal,
            session=session,
            bus=get_bus(request),
            timeout=min(timeout or settings.command_timeout, MAX_TIMEOUT),
        )
        if answer.status_code != 200:  # the charge point's CALLERROR (502), passed on
            return JSONResponse(json.loads(bytes(answer.body)), answer.status_code, answer.headers)
        status = str(json.loads(bytes(answer.body)).get("status"))
        command_id = answer.headers[COMMAND_ID_HEADER]
        sent.append(part)
        if status != "Accepted":
            break
    result = LocalListSent(
        update_type=update.update_type,
        list_version=sent[-1].version,
        entries=sum(len(p.entries) for p in sent),
        removed=sum(p.removed for p in sent),
        status=status,
        messages=len(sent),
    )
    return JSONResponse(result.model_dump(mode="json"), headers={COMMAND_ID_HEADER: command_id})


@router.get(
    "/{chargepoint_id}/local-list",
    response_model=list[LocalListEntryRead],
    responses=error_responses(401, 403, 404, 422),
)
async def read_local_list(
    chargepoint_id: ChargePointId, _: OperatorUser, session: SessionDep
) -> list[LocalListEntryRead]:
    """The entries of the list the station accepted last (empty: none sent or accepted)."""
    await commands.chargepoint_version(session=session, chargepoint_id=chargepoint_id)
    e = LocalListEntry
    rows = await session.scalars(
        select(e).where(e.chargepoint_id == chargepoint_id).order_by(e.id_token)
    )
    return [LocalListEntryRead.model_validate(r) for r in rows]
