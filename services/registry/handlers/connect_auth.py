"""`gateway.authenticate` (RPC): may a charge point open its websocket? (security profile 1)

The gateway has no database: on every websocket upgrade it asks the registry, with the
charge point id of the URL, the HTTP Basic password it presented (null when it sent no
`Authorization` header) and its remote IP, and answers the upgrade from the reply
`{"allowed": bool, "reason": str}`: 101 or 401 (no reply at all: 503).

The rules are `policy.connect_decision`. Verifying a password is an argon2 hash (tens of
milliseconds of CPU, 64 MiB): it runs in a worker thread so the consumer's event loop keeps
serving (other batches' replies, heartbeats of the broker connection). A request older than
`CSMS_UPSTREAM_CALL_TIMEOUT` (the gateway has given up and answered 503) is not verified:
after an outage the backlog drains without burning CPU on answers nobody waits for.

Failed attempts are logged at WARNING with the remote IP and the reason, never the password.
No row is written (log_message=False: this is not an OCPP frame).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from services.registry.policy import (
    PASSWORD_ACCEPTED,
    WRONG_PASSWORD,
    ConnectDecision,
    connect_decision,
)
from services.registry.queries import chargepoint_id_of, chargepoint_table
from shared.dispatch import HandlerContext, OcppError, Payload
from shared.envelope import Envelope
from shared.passwords import verify_password

log = logging.getLogger(__name__)

INVALID_REQUEST = ConnectDecision(False, "invalid request")


async def handle(ctx: HandlerContext, env: Envelope) -> Payload:
    """Answer `{"allowed": bool, "reason": str}` for one connection attempt."""
    chargepoint_id = chargepoint_id_of(env)
    remote_ip = env.payload.get("remote_ip")
    decision = await _decide(ctx, env, chargepoint_id)
    if decision.allowed:
        log.debug(
            "connection of %s from %s allowed: %s", chargepoint_id, remote_ip, decision.reason
        )
    else:
        log.warning(
            "connection of %s from %s refused: %s",
            chargepoint_id,
            remote_ip,
            decision.reason,
            extra={"remote_ip": remote_ip, "reason": decision.reason},
        )
    return {"allowed": decision.allowed, "reason": decision.reason}


async def _decide(ctx: HandlerContext, env: Envelope, chargepoint_id: str) -> ConnectDecision:
    password = env.payload.get("password")
    if password is not None and not isinstance(password, str):
        return INVALID_REQUEST
    row = (
        await ctx.session.execute(
            select(chargepoint_table.c.password_hash, chargepoint_table.c.decommissioned_at).where(
                chargepoint_table.c.chargepoint_id == chargepoint_id
            )
        )
    ).one_or_none()
    decision = connect_decision(
        known=row is not None,
        decommissioned=row is not None and row.decommissioned_at is not None,
        has_password=row is not None and row.password_hash is not None,
        presented=password is not None,
    )
    if decision is not None:
        return decision
    assert row is not None and password is not None  # connect_decision returned None
    if ctx.now - env.created_at > timedelta(seconds=ctx.settings.upstream_call_timeout):
        # The gateway answered 503 already; an error reply is what it would act on (503)
        # should it still be listening (clocks apart), never a wrong 401.
        log.info("authentication request of %s expired before it was handled", chargepoint_id)
        raise OcppError("GenericError", "authentication request expired")
    ok = await asyncio.to_thread(verify_password, password, row.password_hash)
    return PASSWORD_ACCEPTED if ok else WRONG_PASSWORD
