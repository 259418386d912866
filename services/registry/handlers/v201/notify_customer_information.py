"""NotifyCustomerInformation (OCPP 2.0.1 N09/N10, after CustomerInformation): one part of the
customer data a station holds. Each part's `data` is stored once (requestId, seqNo); the
report's text is the parts in seqNo order (`GET /chargepoints/{id}/reports`)."""

from __future__ import annotations

from services.registry.handlers.v201.reports import require_seq_no, store_part
from shared.dispatch import HandlerContext
from shared.envelope import Envelope
from shared.ocpp.v201.notify_customer_information_request import (
    NotifyCustomerInformationRequest,
)

KIND = "NotifyCustomerInformation"


async def handle(ctx: HandlerContext, env: Envelope, req: NotifyCustomerInformationRequest) -> None:
    """Store the part with its text (once); the gateway answered {}."""
    require_seq_no(req.seq_no)
    await store_part(
        ctx,
        env,
        req,
        kind=KIND,
        request_id=req.request_id,
        seq_no=req.seq_no,
        tbc=req.tbc,
        generated_at=req.generated_at,
        items=1,
        data=req.data,
    )
