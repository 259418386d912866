"""Sending a command with the command log: the pending row, the RPC, the outcome (API and
services alike; docs/commands.md "Command log").

A `pending` row is committed before the command is published (its id is the command's
correlation id); the outcome is committed with the charge point's next `seq`
(shared/command_outbox.py), then `command.completed` is published, confirmed, so the effect
consumers apply its effects. No transaction is open while the charge point is waited for.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus.errors import BusError
from shared.command_outbox import complete, publish_nudge
from shared.commands import (
    RPC_MARGIN,
    CallError,
    CommandBus,
    CommandOutcome,
    NotConnected,
    Refused,
    Result,
    TimedOut,
    send_command,
)
from shared.db.models import CommandLog

log = logging.getLogger(__name__)

BUS_UNAVAILABLE: Final = "BusUnavailable"
"""`command_log.error_code` when the command could not be published at all."""


async def create_log(
    *,
    session: AsyncSession,
    chargepoint_id: str,
    action: str,
    request: dict[str, Any],
    requested_by: str | None,
    timeout: float,
    ocpp_version: str | None = None,
) -> uuid.UUID:
    """Commit a `pending` command log row; its id (the correlation id). `expires_at` is
    when this process stops waiting for the answer."""
    row = CommandLog(
        id=uuid.uuid4(),
        chargepoint_id=chargepoint_id,
        action=action,
        request=request,
        outcome="pending",
        requested_by=requested_by[:320] if requested_by else None,
        expires_at=datetime.now(UTC) + timedelta(seconds=timeout + RPC_MARGIN),
        ocpp_version=ocpp_version,
    )
    session.add(row)
    await session.commit()
    return row.id


def log_values(outcome: CommandOutcome) -> dict[str, Any]:
    """The command log columns of an outcome."""
    values: dict[str, Any] = {"outcome": outcome.outcome, "completed_at": datetime.now(UTC)}
    if isinstance(outcome, Result):
        values["response"] = outcome.payload
    elif isinstance(outcome, CallError | Refused):
        values.update(
            response=outcome.details or None,
            error_code=outcome.code[:50],
            error_description=outcome.description,
        )
    elif isinstance(outcome, NotConnected | TimedOut):
        values["error_description"] = outcome.reason
    return values


def bus_error_values(exc: BusError) -> dict[str, Any]:
    """The command log columns of a command the broker did not take."""
    return {
        "outcome": "error",
        "error_code": BUS_UNAVAILABLE,
        "error_description": str(exc),
        "completed_at": datetime.now(UTC),
    }


async def finish_log(
    *, session: AsyncSession, bus: CommandBus, command_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Commit how the command ended (with its seq), then publish `command.completed`."""
    event = await complete(session, command_id, values)
    await session.commit()
    if event is None:
        log.warning("command %s was not pending any more; outcome not recorded", command_id)
        return
    await publish_nudge(bus, event)


async def send_logged(
    *,
    session: AsyncSession,
    bus: CommandBus,
    chargepoint_id: str,
    action: str,
    payload: dict[str, Any],
    logged_request: dict[str, Any] | None = None,
    requested_by: str | None,
    timeout: float,
    ocpp_version: str | None = None,
) -> tuple[uuid.UUID, CommandOutcome | BusError]:
    """Log, send and log the outcome of one command: its log id and its outcome (or the
    broker error that kept it from being sent). `logged_request`: what the log keeps of the
    payload when it differs (secrets redacted)."""
    command_id = await create_log(
        session=session,
        chargepoint_id=chargepoint_id,
        action=action,
        request=payload if logged_request is None else logged_request,
        requested_by=requested_by,
        timeout=timeout,
        ocpp_version=ocpp_version,
    )
    try:
        outcome = await send_command(
            bus,
            chargepoint_id=chargepoint_id,
            action=action,
            payload=payload,
            timeout=timeout,
            correlation_id=command_id.hex,
            ocpp_version=ocpp_version,
        )
    except BusError as exc:
        log.error("command %s %s not sent: %r", action, command_id, exc)
        await finish_log(
            session=session, bus=bus, command_id=command_id, values=bus_error_values(exc)
        )
        return command_id, exc
    await finish_log(session=session, bus=bus, command_id=command_id, values=log_values(outcome))
    return command_id, outcome
