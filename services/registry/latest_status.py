"""Status reports kept as the charge point's latest value: firmware, diagnostics / log upload.

FirmwareStatusNotification (1.6 §4.5, 2.0.1 L01), SignedFirmwareStatusNotification (1.6
security whitepaper) -> `firmware_status`; DiagnosticsStatusNotification (1.6 §4.4),
LogStatusNotification (1.6 whitepaper, 2.0.1 N01) -> `diagnostics_status` (its value set
includes UploadLogStatusEnumType); 2.0.1 PublishFirmwareStatusNotification (L03) ->
`publish_firmware_status`. The history is the message log; the gateway answered `{}`.
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy import select, update

from services.registry.queries import chargepoint_table, create_chargepoint_if_unknown
from shared.db import enums
from shared.dispatch import HandlerContext, Payload

log = logging.getLogger(__name__)

FIRMWARE: Final = ("firmware_status", enums.FIRMWARE_STATUSES, "chargepoint.firmware_status")
DIAGNOSTICS: Final = (
    "diagnostics_status",
    enums.DIAGNOSTICS_STATUSES,
    "chargepoint.diagnostics_status",
)
PUBLISH_FIRMWARE: Final = (
    "publish_firmware_status",
    enums.PUBLISH_FIRMWARE_STATUSES,
    "chargepoint.publish_firmware_status",
)
Kind = tuple[str, tuple[str, ...], str]
"""(chargepoint column, the values its CHECK allows, the event announcing a change)."""


async def record_latest_status(
    ctx: HandlerContext, kind: Kind, status: str, request_id: int | None = None
) -> None:
    """Keep `status` as the charge point's latest value of `kind`; announce it with the
    previous one (and the requestId of the security extension's messages)."""
    column_name, allowed, event_name = kind
    previous = await set_latest_status(ctx, ctx.chargepoint_id, column_name, status, allowed)
    event: Payload = {"status": status, "previousStatus": previous}
    if request_id is not None:
        event["requestId"] = request_id
    ctx.emit(event_name, event, ctx.chargepoint_id)


async def set_latest_status(
    ctx: HandlerContext,
    chargepoint_id: str,
    column_name: str,
    status: str,
    allowed: tuple[str, ...],
) -> str | None:
    """Keep `status` as the charge point's latest `column_name`; the previous value.

    These reports carry no timestamp; a charge point sends them one at a time, minutes
    apart, so the last one consumed is the latest. A value outside `allowed` (the column's
    CHECK) is logged and only kept in the message log.
    """
    if status not in allowed:
        log.warning("%s %r not in %s: not applied", column_name, status, allowed)
        return None
    await create_chargepoint_if_unknown(ctx, chargepoint_id)
    column = chargepoint_table.c[column_name]
    previous = (
        await ctx.session.execute(
            select(column)
            .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
            .with_for_update()
        )
    ).scalar_one()
    await ctx.session.execute(
        update(chargepoint_table)
        .where(chargepoint_table.c.chargepoint_id == chargepoint_id)
        .values({column_name: status})
    )
    return previous if isinstance(previous, str) else None
