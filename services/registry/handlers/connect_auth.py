"""`gateway.authenticate` (RPC): may a charge point open its websocket? (security profile 1)

The gateway has no database: on every websocket upgrade it asks the registry, with the
charge point id of the URL, whether it presented HTTP Basic credentials for that id
(`presented`, a bool: the password itself never leaves the gateway) and its remote IP:

- `{"allowed": true|false, "reason": str}` when the registry can decide alone
  (`policy.connect_decision`): unknown id, decommissioned, no password set, password required;
- `{"allowed": null, "reason": "verify", "password_hash": <argon2 hash>}` when the charge point
  has a password and presented one: the gateway verifies it against the stored hash.

The gateway answers the upgrade from it: 101 or 401 (no reply at all, or another: 503). No
password is verified here, so the consumer stays cheap whatever the reconnect storm.

Every reply also carries `registration_status`: what a BootNotification would answer now
(`policy.boot_answer`: Accepted, Pending, Rejected), null for an id nobody provisioned. The
gateway lets nothing but BootNotification through until a charge point is Accepted, so an
Accepted charge point that reconnects without booting (normal after a network drop) keeps
working, and one that never was must boot first.

Refusals are logged at WARNING with the remote IP and the reason (wrong passwords are
refused, and logged, by the gateway). No row is written (log_message=False: not an OCPP frame).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Row

from services.registry.policy import ConnectDecision, boot_answer, connect_decision
from services.registry.queries import chargepoint_table
from shared.dispatch import HandlerContext, Payload
from shared.envelope import Envelope
from shared.messages import GatewayAuthenticate

log = logging.getLogger(__name__)

VERIFY: Final = "verify"
"""The reason of a reply that leaves the password verification to the gateway."""


async def handle(ctx: HandlerContext, env: Envelope, req: GatewayAuthenticate) -> Payload:
    """Answer one connection attempt: a decision, or the hash to verify the password with."""
    chargepoint_id = ctx.chargepoint_id
    remote_ip = req.remote_ip
    row = await _chargepoint(ctx, chargepoint_id)
    decision = _decide(req.presented, row)
    registration = (
        None
        if row is None
        else boot_answer(row.registration_status, decommissioned=row.decommissioned_at is not None)
    )
    if isinstance(decision, str):
        log.debug(
            "connection of %s from %s: password verification left to the gateway",
            chargepoint_id,
            remote_ip,
        )
        return {
            "allowed": None,
            "reason": VERIFY,
            "password_hash": decision,
            "registration_status": registration,
        }
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
    return {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "registration_status": registration,
    }


async def _chargepoint(ctx: HandlerContext, chargepoint_id: str) -> Row[Any, Any, Any] | None:
    """The columns the decision needs, or None for an id nobody provisioned."""
    t = chargepoint_table.c
    return (
        await ctx.session.execute(
            select(t.password_hash, t.decommissioned_at, t.registration_status).where(
                t.chargepoint_id == chargepoint_id
            )
        )
    ).one_or_none()


def _decide(presented: bool, row: Row[Any, Any, Any] | None) -> ConnectDecision | str:
    """The decision, or the stored password hash when the presented password must be verified."""
    decision = connect_decision(
        known=row is not None,
        decommissioned=row is not None and row.decommissioned_at is not None,
        has_password=row is not None and row.password_hash is not None,
        presented=presented,
    )
    if decision is not None:
        return decision
    assert row is not None and isinstance(row.password_hash, str)  # connect_decision: None
    return row.password_hash
