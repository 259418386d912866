"""Sending a command on behalf of an API caller: checks, the command log, the RPC.

The API writes `command_log`: a `pending` row (with `expires_at`, when it stops waiting) is
committed before the command is published (its id is the command's correlation id, also
carried by the envelope the gateway gets and by the `command.completed` event). The outcome
is committed with the charge point's next `seq` (shared/command_outbox.py), and only then is
`command.completed` published, confirmed: the services apply the effects from the committed
rows, in order. No database connection is held while the charge point is being waited for.
A row left pending by an API process that died is marked `lost` by the registry's sweeper.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.deps import Principal
from services.api.errors import Forbidden, NotFound
from shared.bus.errors import BusError
from shared.command_log import BUS_UNAVAILABLE as BUS_UNAVAILABLE
from shared.command_log import create_log as create_log
from shared.command_log import finish_log as finish_log
from shared.command_log import log_values as log_values
from shared.command_log import send_logged
from shared.commands import CommandBus, CommandOutcome
from shared.db.models import ChargePoint, IdTag, Transaction
from shared.ocpp.v201.request_start_transaction_request import RequestStartTransactionRequest
from shared.ocpp.v201.request_stop_transaction_request import RequestStopTransactionRequest
from shared.secrets import redact_command

log = logging.getLogger(__name__)

DRIVER_COMMANDS: Final = frozenset(
    {
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "RequestStartTransaction",
        "RequestStopTransaction",
    }
)
"""What a driver may send: starting with their own id tag, stopping their own transaction."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A command's log id and outcome (or the broker error that kept it from being sent)."""

    command_id: uuid.UUID
    outcome: CommandOutcome | None
    bus_error: BusError | None = None


def check_driver_action(*, principal: Principal, action: str) -> None:
    """Drivers may only remote-start and remote-stop (403 otherwise)."""
    if principal.is_driver and action not in DRIVER_COMMANDS:
        raise Forbidden("drivers may only start and stop their own transactions")


async def require_known_chargepoint(*, session: AsyncSession, chargepoint_id: str) -> None:
    """404 unless the charge point is known (provisioned, or registered by a boot)."""
    found = await session.scalar(
        select(exists().where(ChargePoint.chargepoint_id == chargepoint_id))
    )
    if not found:
        raise NotFound("charge point", chargepoint_id)


async def chargepoint_version(*, session: AsyncSession, chargepoint_id: str) -> str | None:
    """The OCPP version the charge point last connected with (None: never connected);
    404 unless the charge point is known."""
    found = (
        await session.execute(
            select(ChargePoint.ocpp_version).where(ChargePoint.chargepoint_id == chargepoint_id)
        )
    ).one_or_none()
    if found is None:
        raise NotFound("charge point", chargepoint_id)
    version: str | None = found.ocpp_version
    return version


async def _own_tag(session: AsyncSession, principal: Principal, id_tag: str) -> bool:
    # OCPP 1.6 IdToken / 2.0.1 IdTokenType.idToken are case-insensitive (CiString).
    mine = await session.scalar(
        select(
            exists().where(
                IdTag.user_id == principal.user_id,
                IdTag.revoked.is_(False),
                func.lower(IdTag.id_token) == id_tag.lower(),
            )
        )
    )
    return bool(mine)


async def check_driver_request(
    *, session: AsyncSession, principal: Principal, chargepoint_id: str, action: str, payload: Any
) -> None:
    """A driver's remote start must use one of their own (unrevoked) id tags and carry no
    charging profile; a remote stop must name their own transaction on this charge point."""
    if not principal.is_driver:
        return
    check_driver_action(principal=principal, action=action)
    if principal.user_id is None:
        raise Forbidden("a driver's commands need a user login, not an API key")
    own_tags = select(IdTag.id_token).where(IdTag.user_id == principal.user_id)
    if action in ("RemoteStartTransaction", "RequestStartTransaction"):
        if payload.get("chargingProfile") is not None:
            raise Forbidden("drivers may not attach a charging profile")
        if action == "RemoteStartTransaction":
            id_tag = str(payload.get("idTag", ""))
        else:
            start = RequestStartTransactionRequest.model_validate(payload)
            id_tag = start.id_token.id_token
            if start.group_id_token is not None:
                raise Forbidden("drivers may not name a group id token")
        if not await _own_tag(session, principal, id_tag):
            raise Forbidden("the id tag is not one of yours")
        return
    if action == "RemoteStopTransaction":
        which = Transaction.transaction_id == payload.get("transactionId")
    else:
        # 2.0.1: the station's transactionId (a string), `transaction.remote_transaction_id`.
        stop = RequestStopTransactionRequest.model_validate(payload)
        which = Transaction.remote_transaction_id == stop.transaction_id
    mine = await session.scalar(
        select(
            exists().where(
                which,
                Transaction.chargepoint_id == chargepoint_id,
                Transaction.id_tag.in_(own_tags),
            )
        )
    )
    if not mine:
        raise Forbidden("the transaction is not one of yours on this charge point")


async def send(
    *,
    session: AsyncSession,
    bus: CommandBus,
    principal: Principal,
    chargepoint_id: str,
    action: str,
    payload: dict[str, Any],
    timeout: float,
    ocpp_version: str | None = None,
) -> Sent:
    """Check the caller and the charge point, log, send, log the outcome.

    `ocpp_version`: the version the payload was built for (the charge point's negotiated
    one): logged, and the gateway refuses the command if the connection speaks another.
    """
    check_driver_action(principal=principal, action=action)
    await require_known_chargepoint(session=session, chargepoint_id=chargepoint_id)
    await check_driver_request(
        session=session,
        principal=principal,
        chargepoint_id=chargepoint_id,
        action=action,
        payload=payload,
    )
    command_id, outcome = await send_logged(
        session=session,
        bus=bus,
        chargepoint_id=chargepoint_id,
        action=action,
        payload=payload,
        logged_request=redact_command(action, payload),  # never a charge point's password
        requested_by=principal.label,
        timeout=timeout,
        ocpp_version=ocpp_version,
    )
    if isinstance(outcome, BusError):
        return Sent(command_id, None, outcome)
    return Sent(command_id, outcome)
