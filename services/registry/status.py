"""Status reports (StatusNotification 1.6 §4.9 and 2.0.1 G01): latest status per connector.

Every report is kept in `status_notification`. A 2.0.1 report is stored with its evseId as
the connector id (one connector per EVSE, docs/data-model.md) and error code NoError.

connectorId 0 is the charge point itself (its status goes to chargepoint.chargepoint_status);
connectorId > 0 is a connector, created the first time it is reported. The stored status only
moves forward in time (the report's timestamp, or its receipt time): reports can be consumed
out of order by competing consumers or after a redelivery.

A connector whose availability is `Scheduled` (a ChangeAvailability the charge point accepted
to apply after the running transaction, services/registry/command_effects.py) resolves when
a status shows the change took effect: Unavailable -> `Inoperative`, Available ->
`Operative`. Any other status (Charging, SuspendedEV/EVSE, Finishing, Preparing, Reserved,
Faulted, Occupied) says the transaction is still running or nothing about availability, so
it stays `Scheduled`. The requested type is not stored: the reported status is what the
charge point actually did, which is the truth to keep.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.policy import is_latest, report_time
from services.registry.queries import chargepoint_table, clip_row, create_chargepoint_if_unknown
from shared.db import enums
from shared.db.models import Connector, StatusNotification
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.event_names import CONNECTOR_STATUS_CHANGED
from shared.ocpp import format_datetime

log = logging.getLogger(__name__)

connector_table: Table = Connector.__table__  # type: ignore[assignment]

SCHEDULED = "Scheduled"
# The status by which a Scheduled availability change shows it took effect (OCPP 1.6 §5.2,
# §4.9: an Inoperative connector reports Unavailable, an Operative idle one Available).
SCHEDULED_RESOLUTION = {"Unavailable": "Inoperative", "Available": "Operative"}
status_notification_table: Table = StatusNotification.__table__  # type: ignore[assignment]


async def record_status(
    ctx: HandlerContext,
    env: Envelope,
    *,
    connector_id: int,
    status: str,
    error_code: str,
    reported: datetime | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Apply a status report if it is the latest, and always store it.

    `connector_id` 0 is the charge point itself; `extra` holds the optional columns of the
    `status_notification` row (info, vendor_id, vendor_error_code).
    """
    chargepoint_id = ctx.chargepoint_id
    at = report_time(reported, env.created_at)
    await create_chargepoint_if_unknown(ctx, chargepoint_id)

    connector_uuid: uuid.UUID | None = None
    if connector_id == 0:
        await _apply_chargepoint_status(ctx, chargepoint_id, status, at)
    elif connector_id > 0:
        connector_uuid = await _apply_connector_status(
            ctx, chargepoint_id, connector_id, status, error_code, at
        )
    else:
        log.warning("StatusNotification for connectorId %d: stored, not applied", connector_id)
    optional = extra or {}
    ctx.uow.add(
        status_notification_table,
        clip_row(
            status_notification_table,
            {
                "chargepoint_id": chargepoint_id,
                "connectorid": connector_id,
                "connector_uuid": connector_uuid,
                "error_code": error_code,
                "info": optional.get("info"),
                "status": status,
                "timestamp": reported,
                "vendor_id": optional.get("vendor_id"),
                "vendor_error_code": optional.get("vendor_error_code"),
                "received_at": env.created_at,
                "message_id": env.correlation_id,
            },
        ),
    )


async def _apply_chargepoint_status(
    ctx: HandlerContext, chargepoint_id: str, status: str, at: datetime
) -> None:
    if status not in enums.CHARGEPOINT_STATUSES:
        # OCPP 1.6 §4.9: only Available, Unavailable and Faulted apply to connectorId 0.
        log.warning("charge point status %r on connectorId 0: stored, not applied", status)
        return
    current = (
        await ctx.session.execute(
            select(chargepoint_table.c.chargepoint_status, chargepoint_table.c.status_timestamp)
            .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
            .with_for_update()
        )
    ).one()
    if not is_latest(at, current.status_timestamp):
        return
    await ctx.session.execute(
        update(chargepoint_table)
        .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
        .values(chargepoint_status=status, status_timestamp=at)
    )
    if current.chargepoint_status != status:
        ctx.emit(
            "chargepoint.status_changed",
            {
                "status": status,
                "previousStatus": current.chargepoint_status,
                "timestamp": format_datetime(at),
            },
            chargepoint_id,
        )


async def _apply_connector_status(
    ctx: HandlerContext,
    chargepoint_id: str,
    connector_id: int,
    status: str,
    error_code: str,
    at: datetime,
) -> uuid.UUID:
    """Create the connector on first sight or update it if the report is newer; its uuid."""
    where = (connector_table.c.chargepoint_id == chargepoint_id) & (
        connector_table.c.connectorid == connector_id
    )
    select_current = select(
        connector_table.c.uuid,
        connector_table.c.connector_status,
        connector_table.c.error_code,
        connector_table.c.status_timestamp,
        connector_table.c.availability_status,
    ).where(where)
    current = (await ctx.session.execute(select_current.with_for_update())).one_or_none()
    previous: dict[str, Any] = {"status": None, "errorCode": None}
    if current is None:
        created: uuid.UUID | None = (
            await ctx.session.execute(
                pg_insert(connector_table)
                .values(
                    chargepoint_id=chargepoint_id,
                    connectorid=connector_id,
                    connector_status=status,
                    error_code=error_code,
                    status_timestamp=at,
                )
                .on_conflict_do_nothing(index_elements=["chargepoint_id", "connectorid"])
                .returning(connector_table.c.uuid)
            )
        ).scalar_one_or_none()
        if created is not None:
            _emit_connector_change(
                ctx, chargepoint_id, connector_id, status, error_code, at, previous
            )
            return created
        # Another consumer created it meanwhile: continue as an update.
        current = (await ctx.session.execute(select_current.with_for_update())).one()
    connector_uuid: uuid.UUID = current.uuid
    if not is_latest(at, current.status_timestamp):
        return connector_uuid
    values: dict[str, Any] = {
        "connector_status": status,
        "error_code": error_code,
        "status_timestamp": at,
    }
    availability = resolved_availability(current.availability_status, status)
    if availability is not None:
        values["availability_status"] = availability
        log.info(
            "connector %d: scheduled availability change took effect (%s): %s",
            connector_id,
            status,
            availability,
        )
    await ctx.session.execute(
        update(connector_table).where(connector_table.c.uuid == connector_uuid).values(values)
    )
    if (current.connector_status, current.error_code) != (status, error_code):
        previous = {"status": current.connector_status, "errorCode": current.error_code}
        _emit_connector_change(ctx, chargepoint_id, connector_id, status, error_code, at, previous)
    return connector_uuid


def resolved_availability(availability: str, status: str) -> str | None:
    """The availability a `Scheduled` connector has once `status` is reported, or None."""
    if availability != SCHEDULED:
        return None
    return SCHEDULED_RESOLUTION.get(status)


def _emit_connector_change(
    ctx: HandlerContext,
    chargepoint_id: str,
    connector_id: int,
    status: str,
    error_code: str,
    at: datetime,
    previous: dict[str, Any],
) -> None:
    ctx.emit(
        CONNECTOR_STATUS_CHANGED,
        {
            "connectorId": connector_id,
            "status": status,
            "errorCode": error_code,
            "previousStatus": previous["status"],
            "previousErrorCode": previous["errorCode"],
            "timestamp": format_datetime(at),
        },
        chargepoint_id,
    )
