"""The OCPP message log rows a service writes beside the effects of each message."""

from __future__ import annotations

from typing import Any

from shared.db.models import OcppMessage
from shared.dispatch import UnitOfWork, fixed_answer
from shared.envelope import Envelope, Kind

CALL, CALLRESULT, CALLERROR = 2, 3, 4


def log_call_and_answer(uow: UnitOfWork, call: Envelope, reply: Envelope | None) -> None:
    """Queue the incoming CALL and the answer the charge point got (reply or fixed answer)."""
    table = OcppMessage.__table__
    base: dict[str, Any] = {
        "chargepoint_id": call.chargepoint_id,
        "unique_id": call.unique_id,
        "message_id": call.correlation_id,
        "action": call.action,
    }
    uow.add(
        table,  # type: ignore[arg-type]
        {
            **base,
            "direction": "in",
            "message_type": CALL,
            "payload": call.payload,
            "error_code": None,
            "error_description": None,
            "created_at": call.created_at,
        },
    )
    answer = reply or call.result(fixed_answer(call))
    is_error = answer.kind is Kind.ERROR
    uow.add(
        table,  # type: ignore[arg-type]
        {
            **base,
            "direction": "out",
            "message_type": CALLERROR if is_error else CALLRESULT,
            "payload": answer.error_details if is_error else answer.payload,
            "error_code": answer.error_code if is_error else None,
            "error_description": answer.error_description if is_error else None,
            "created_at": answer.created_at,
        },
    )
