"""`POST /chargepoints/{id}/password-rotation`: the CSMS gives a charge point a new password.

OCPP 1.6 security whitepaper (AuthorizationKey) / 2.0.1 A01 (update Charging Station
password for HTTP Basic authentication):

1. A random password is drawn: 20 random bytes as 40 hex characters (the 1.6 whitepaper's
   AuthorizationKey is 16 to 20 bytes, hex; 2.0.1 BasicAuthPassword is 16 to 40 characters).
2. It is sent: 1.6 ChangeConfiguration `AuthorizationKey`, 2.0.1 SetVariables
   SecurityCtrlr.BasicAuthPassword (by the version the charge point connected with). The
   command log keeps it redacted (shared/secrets.py); it is never logged nor answered.
3. Only when the charge point answers Accepted is its argon2 hash stored, as
   `pending_password_hash`: from then on the gateway accepts the old and the new password
   (the charge point reconnects with the new one when it applies it).
4. When the charge point connects with the new password, the registry makes it the password
   (`gateway.connected` names it; handlers/gateway_events.py): the old one is refused.

Any other answer (Rejected, a CALLERROR, not connected, no answer in time, the gateway
refusing to send it) stores nothing: the old password stays the only one.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from sqlalchemy import update

from services.api import security
from services.api.chargepoints.router import ChargePointId
from services.api.chargepoints.service import get_chargepoint
from services.api.commands import service as commands
from services.api.commands.router import (
    COMMAND_ID_HEADER,
    MAX_TIMEOUT,
    ChargePointNotConnected,
    CommandTimeout,
    ServiceUnavailable,
    gateway_failure,
    get_bus,
)
from services.api.common import ApiModel
from services.api.deps import OperatorUser, SessionDep, SettingsDep
from services.api.errors import Conflict, error_responses
from shared.bus.errors import BusError
from shared.commands import CallError, NotConnected, Result, TimedOut, send_command
from shared.db.models import ChargePoint
from shared.ocpp.versions import OCPP16, OCPP201
from shared.secrets import redact_command

log = logging.getLogger(__name__)

router = APIRouter(prefix="/chargepoints", tags=["chargepoints"])

PASSWORD_BYTES = 20


class PasswordRotationRead(ApiModel):
    """How the rotation went; the password itself is never returned."""

    chargepoint_id: str
    action: Literal["ChangeConfiguration", "SetVariables"]
    status: str
    """The charge point's answer (Accepted, Rejected, RebootRequired, ...)."""
    pending: bool
    """True: the new password is stored, accepted beside the old one until the charge point
    connects with it."""
    command_id: str


def new_password() -> str:
    """40 hex characters (20 random bytes)."""
    return secrets.token_hex(PASSWORD_BYTES)


def rotation_command(ocpp_version: str | None, password: str) -> tuple[str, dict[str, object]]:
    """The command that sets the password on a charge point of that version."""
    if ocpp_version == OCPP201:
        return "SetVariables", {
            "setVariableData": [
                {
                    "attributeValue": password,
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        }
    return "ChangeConfiguration", {"key": "AuthorizationKey", "value": password}


def _status(action: str, payload: dict[str, object]) -> str:
    if action == "SetVariables":
        results = payload.get("setVariableResult")
        if isinstance(results, list) and results and isinstance(results[0], dict):
            return str(results[0].get("attributeStatus", "Unknown"))
        return "Unknown"
    return str(payload.get("status", "Unknown"))


@router.post(
    "/{chargepoint_id}/password-rotation",
    response_model=PasswordRotationRead,
    summary="Give the charge point a new random password (HTTP Basic, profiles 1 and 2)",
    responses=error_responses(401, 403, 404, 409, 422, 502, 503, 504),
)
async def rotate_password(
    chargepoint_id: ChargePointId,
    principal: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> PasswordRotationRead:
    """Send a new password (1.6 ChangeConfiguration AuthorizationKey / 2.0.1 SetVariables
    BasicAuthPassword); store its hash only if the charge point accepts it; the old password
    keeps working until the charge point connects with the new one."""
    chargepoint = await get_chargepoint(session=session, chargepoint_id=chargepoint_id)
    if chargepoint.decommissioned_at is not None:
        raise Conflict("charge point is decommissioned")
    if chargepoint.password_hash is None:
        raise Conflict("the charge point has no password to rotate; set one with PATCH first")
    bus = get_bus(request)
    version = chargepoint.ocpp_version or OCPP16
    password = new_password()
    action, payload = rotation_command(version, password)
    timeout = min(settings.command_timeout, MAX_TIMEOUT)
    command_id = await commands.create_log(
        session=session,
        chargepoint_id=chargepoint_id,
        action=action,
        request=redact_command(action, payload),
        requested_by=principal.label,
        timeout=timeout,
        ocpp_version=version,
    )
    headers = {COMMAND_ID_HEADER: str(command_id)}
    try:
        outcome = await send_command(
            bus,
            chargepoint_id=chargepoint_id,
            action=action,
            payload=payload,
            timeout=timeout,
            correlation_id=command_id.hex,
            ocpp_version=version,
        )
    except BusError as exc:
        await commands.finish_log(
            session=session,
            bus=bus,
            command_id=command_id,
            values={
                "outcome": "error",
                "error_code": commands.BUS_UNAVAILABLE,
                "error_description": str(exc),
                "completed_at": datetime.now(UTC),
            },
        )
        unavailable = ServiceUnavailable("the message broker is not available")
        unavailable.headers = headers
        raise unavailable from None
    await commands.finish_log(
        session=session, bus=bus, command_id=command_id, values=commands.log_values(outcome)
    )
    response.headers[COMMAND_ID_HEADER] = str(command_id)
    if isinstance(outcome, NotConnected):
        error = ChargePointNotConnected(f"{chargepoint_id} is not connected")
        error.headers = headers
        raise error
    if isinstance(outcome, TimedOut):
        timed_out = CommandTimeout(f"{chargepoint_id} did not answer {action} in time")
        timed_out.headers = headers
        raise timed_out
    # The gateway did not send it (the charge point reconnected with another version
    # meanwhile: 409; its schema refused it: 422; it failed: 502), or found the answer invalid.
    failure = gateway_failure(outcome, chargepoint_id=chargepoint_id, action=action)
    if failure is not None:
        failure.headers = {**(failure.headers or {}), **headers}
        raise failure
    if isinstance(outcome, CallError):
        return PasswordRotationRead(
            chargepoint_id=chargepoint_id,
            action=action,
            status=f"CallError {outcome.code}",
            pending=False,
            command_id=str(command_id),
        )
    if not isinstance(outcome, Result):  # pragma: no cover - the four outcomes above
        raise ServiceUnavailable("the message broker is not available")
    status = _status(action, outcome.payload)
    pending = status == "Accepted"
    if pending:
        new_hash = await security.hash_password_async(password)
        await session.execute(
            update(ChargePoint)
            .where(ChargePoint.chargepoint_id == chargepoint_id)
            .values(pending_password_hash=new_hash)
        )
        await session.commit()
        log.info("%s accepted a new password; the old one is valid until it reconnects", action)
    else:
        log.warning("charge point %s answered %s to the new password", chargepoint_id, status)
    return PasswordRotationRead(
        chargepoint_id=chargepoint_id,
        action=action,
        status=status,
        pending=pending,
        command_id=str(command_id),
    )
