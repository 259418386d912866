"""GetBaseReport(FullInventory) after the first Accepted boot of a 2.0.1 station (B07), so
its device model is known without an operator asking (CSMS_REGISTRY_BASE_REPORT_ON_FIRST_BOOT).

The registry consumes its own `chargepoint.booted` events on `csms.registry.base-report`,
one at a time. For an Accepted 2.0.1 boot it claims the station in one short transaction
(`chargepoint.base_report_requested_at` set where it is NULL: only one replica, one boot,
ever asks), then sends the command through the command log like the API does
(shared/command_log.py: the GetBaseReport effect makes the report's row, the NotifyReport
parts fill the device model). No transaction is open while the station is waited for.

- The station answered (Accepted, or Rejected / NotSupported / EmptyResultSet, or a
  CALLERROR): done, never asked again; its answer is in the command log (and the report's
  row for a CALLRESULT).
- No answer (not connected, timeout, refused by the gateway, broker down): the claim is
  released, so the next Accepted boot asks again.
- A registry that dies between the claim and the answer leaves the claim: that station is
  not asked (an operator can send get-base-report).

The requestId is the station's highest NotifyReport requestId known + 1. The boot answer is
published to the gateway before the event is, so the station has its Accepted first.
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.bus.errors import BusError
from shared.bus.topology import EVENTS
from shared.command_log import send_logged
from shared.commands import CallError, CommandBus, Result
from shared.db.models import ChargePoint, DeviceReport
from shared.dispatch import HandlerContext, Route, Router
from shared.envelope import Envelope
from shared.event_names import CHARGEPOINT_BOOTED
from shared.messages import ChargePointBooted
from shared.ocpp import OCPP201

log = logging.getLogger(__name__)

CHARGEPOINT: Table = ChargePoint.__table__  # type: ignore[assignment]
REPORT: Table = DeviceReport.__table__  # type: ignore[assignment]

QUEUE: Final = "base-report"
"""`Route.own_queue`: consumed from `csms.registry.base-report`, one event at a time."""
REQUESTED_BY: Final = "registry:first-boot"
"""`command_log.requested_by` of these commands."""
ACTION: Final = "GetBaseReport"


class BaseReportOnBoot:
    """The `chargepoint.booted` handler, bound to the bus and the registry's sessionmaker."""

    def __init__(self, bus: CommandBus, db: async_sessionmaker[AsyncSession]) -> None:
        self.bus = bus
        self.db = db

    async def _claim(self, chargepoint_id: str) -> int | None:
        """Claim the station's first base report; its requestId, or None if claimed before."""
        async with self.db() as session, session.begin():
            claimed = await session.scalar(
                update(CHARGEPOINT)
                .where(
                    CHARGEPOINT.c.chargepoint_id == chargepoint_id,
                    CHARGEPOINT.c.base_report_requested_at.is_(None),
                )
                .values(base_report_requested_at=func.now())
                .returning(CHARGEPOINT.c.chargepoint_id)
            )
            if claimed is None:
                return None
            highest = await session.scalar(
                select(func.max(REPORT.c.request_id)).where(
                    REPORT.c.chargepoint_id == chargepoint_id, REPORT.c.kind == "NotifyReport"
                )
            )
            return int(highest or 0) + 1

    async def _release(self, chargepoint_id: str) -> None:
        async with self.db() as session, session.begin():
            await session.execute(
                update(CHARGEPOINT)
                .where(CHARGEPOINT.c.chargepoint_id == chargepoint_id)
                .values(base_report_requested_at=None)
            )

    async def booted(self, ctx: HandlerContext, env: Envelope, req: ChargePointBooted) -> None:
        """An Accepted 2.0.1 boot: ask for the FullInventory once (see the module doc)."""
        if not ctx.settings.registry_base_report_on_first_boot:
            return
        if req.status != "Accepted" or req.ocpp_version != OCPP201:
            return
        chargepoint_id = ctx.chargepoint_id
        request_id = await self._claim(chargepoint_id)
        if request_id is None:
            return
        payload = {"requestId": request_id, "reportBase": "FullInventory"}
        async with self.db() as session:
            command_id, outcome = await send_logged(
                session=session,
                bus=self.bus,
                chargepoint_id=chargepoint_id,
                action=ACTION,
                payload=payload,
                requested_by=REQUESTED_BY,
                timeout=ctx.settings.command_timeout,
                ocpp_version=OCPP201,
            )
        if isinstance(outcome, Result | CallError):
            log.info(
                "first-boot GetBaseReport %s to %s answered: %s",
                command_id,
                chargepoint_id,
                outcome.payload.get("status") if isinstance(outcome, Result) else outcome.code,
            )
            return
        reason = outcome if isinstance(outcome, BusError) else outcome.outcome
        log.warning(
            "first-boot GetBaseReport %s to %s not answered (%s): asked again at its next boot",
            command_id,
            chargepoint_id,
            reason,
        )
        await self._release(chargepoint_id)


def build_router(bus: CommandBus, db: async_sessionmaker[AsyncSession]) -> Router:
    """The route of the first-boot base report (consumed by `services/registry/main.py`)."""
    handler = BaseReportOnBoot(bus, db)
    return Router(
        [
            Route(
                EVENTS,
                CHARGEPOINT_BOOTED,
                handler.booted,
                ChargePointBooted,
                log_message=False,
                own_queue=QUEUE,
            )
        ]
    )
