"""DataTransfer (OCPP 1.6 §4.3, 2.0.1 P01/P02): stored verbatim; answered by a vendor handler.

One vendor table serves both versions (a vendorId means the same whatever the protocol).

No vendor handler ships registered: every vendorId is answered `UnknownVendorId` (the spec's
answer when "the vendorId is not known"). A deployment that understands a vendor's messages
registers a handler with `register_vendor(vendor_id, handler)` before the service starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from sqlalchemy import Table

from services.registry.queries import clip_row
from shared.db.models import DataTransfer
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.ocpp.v16.data_transfer_request import DataTransferRequest as DataTransfer16
from shared.ocpp.v201.data_transfer_request import DataTransferRequest as DataTransfer201

data_transfer_table: Table = DataTransfer.__table__  # type: ignore[assignment]

DataTransferRequest = DataTransfer16 | DataTransfer201

VendorHandler = Callable[[HandlerContext, Envelope, DataTransferRequest], Awaitable[Payload]]
"""Returns the DataTransfer answer payload (`status`, optional `data`)."""

VENDOR_HANDLERS: dict[str, VendorHandler] = {}
"""vendorId -> handler; empty unless a deployment registers one."""


def register_vendor(vendor_id: str, handler: VendorHandler) -> None:
    """Answer DataTransfer.req of `vendor_id` with `handler`."""
    VENDOR_HANDLERS[vendor_id] = handler


def unregister_vendor(vendor_id: str) -> None:
    """Forget the handler of `vendor_id` (answered UnknownVendorId again)."""
    VENDOR_HANDLERS.pop(vendor_id, None)


async def handle(ctx: HandlerContext, env: Envelope, req: DataTransferRequest) -> Payload:
    """Store the transfer, then answer it from the vendor's handler or UnknownVendorId."""
    data = req.data
    if data is not None and not isinstance(data, str):
        # 1.6 says string (2.0.1 anyType): a JSON value is kept, serialised.
        data = orjson.dumps(data).decode()
    ctx.uow.add(
        data_transfer_table,
        clip_row(
            data_transfer_table,
            {
                "chargepoint_id": ctx.chargepoint_id,
                "vendor_id": req.vendor_id,
                "data_message_id": req.message_id,
                "data": data,
                "direction": "in",
                "received_at": env.created_at,
                "message_id": env.correlation_id,
            },
        ),
    )
    handler = VENDOR_HANDLERS.get(req.vendor_id)
    if handler is None:
        return {"status": "UnknownVendorId"}
    return await handler(ctx, env, req)
