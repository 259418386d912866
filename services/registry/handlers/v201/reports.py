"""What the 2.0.1 report handlers share: the seqNo check and storing a part."""

from __future__ import annotations

from datetime import datetime

from services.registry.device_model import PartStored, record_part
from services.registry.queries import create_chargepoint_if_unknown
from shared.dispatch import HandlerContext, OcppError
from shared.envelope import Envelope, message_key
from shared.ocpp import OCPP201, VIOLATION_CODES, OcppModel, Violation, dump_payload


def require_seq_no(seq_no: int) -> None:
    """The schema leaves seqNo unbounded; a negative one cannot be ordered: refused before
    anything is written (the refusal is dead-lettered, the gateway answered {})."""
    if seq_no < 0:
        raise OcppError(
            VIOLATION_CODES[OCPP201][Violation.PROPERTY],
            f"payload.seqNo: {seq_no} is negative",
            {"path": "payload.seqNo", "rule": "minimum"},
        )


def content_key(chargepoint_id: str, action: str, req: OcppModel) -> str:
    """The key of what a part says (`message_key` with no unique id): a part resent with
    the same message id, or as a new CALL with the same content, is the same part; a new
    report reusing a requestId differs (its generatedAt, its data)."""
    return message_key(chargepoint_id, "", action, dump_payload(req))


async def store_part(
    ctx: HandlerContext,
    env: Envelope,
    req: OcppModel,
    *,
    kind: str,
    request_id: int,
    seq_no: int | None,
    tbc: bool | None,
    generated_at: datetime | None,
    items: int,
    data: str | None = None,
) -> PartStored:
    """Store one part of report `request_id` (the station first, if unknown); falsy for a
    part stored already (a resend or a redelivery: nothing more to write). When it
    completed the report, the caller sweeps (device_model.sweep_report) after writing."""
    await create_chargepoint_if_unknown(ctx, ctx.chargepoint_id)
    return await record_part(
        ctx.session,
        ctx.chargepoint_id,
        kind=kind,
        request_id=request_id,
        seq_no=seq_no,
        tbc=bool(tbc),
        generated_at=generated_at,
        items=items,
        message_key=content_key(ctx.chargepoint_id, env.action, req),
        now=ctx.now,
        data=data,
    )
