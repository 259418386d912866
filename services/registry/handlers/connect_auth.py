"""`gateway.authenticate` (RPC): may a charge point open its websocket? (security profile 1)

The gateway has no database: on every websocket upgrade it asks the registry, with the
charge point id of the URL, whether it presented HTTP Basic credentials for that id
(`presented`, a bool: the password itself never leaves the gateway) and its remote IP:

- `{"allowed": true|false, "reason": str}` when the registry can decide alone
  (`policy.connect_decision`): unknown id, decommissioned, no password set, password required;
- `{"allowed": null, "reason": "verify", "password_hash": <argon2 hash>}` when the charge point
  has a password and presented one: the gateway verifies it against the stored hash; during a
  password rotation also `pending_password_hash` (the new password the charge point accepted),
  which the gateway tries when the first does not match.

The gateway answers the upgrade from it: 101 or 401 (no reply at all, or another: 503). No
password is verified here, so the consumer stays cheap whatever the reconnect storm.

Every reply also carries `registration_status`: what a BootNotification would answer now
(`policy.boot_answer`: Accepted, Pending, Rejected), null for an id nobody provisioned. The
gateway lets nothing but BootNotification through until a charge point is Accepted, so an
Accepted charge point that reconnects without booting (normal after a network drop) keeps
working, and one that never was must boot first.

The request's `security_profile` is the profile the connection presents (the gateway works
it out: 3 verified client certificate, 2 TLS + credentials, 1 credentials, 0 nothing); a
connection below the station's (`policy.required_profile`) is refused: `refusal`
"credentials" (401) when only the credentials are missing, "profile" (403) otherwise.

Refusals are logged at WARNING with the remote IP and the reason (wrong passwords are
refused, and logged, by the gateway). A refusal of a provisioned charge point is recorded as a
security event (`security_event` row, source `csms`, type `FailedToAuthenticateAtCsms`, and a
`chargepoint.security_event` domain event); no message log row (not an OCPP frame).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Row

from services.registry.policy import ConnectDecision, boot_answer, clip, connect_decision
from services.registry.queries import chargepoint_table
from services.registry.security_events import record_security_event
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
    decision = _decide(req, row)
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
        reply: Payload = {
            "allowed": None,
            "reason": VERIFY,
            "password_hash": decision,
            "registration_status": registration,
        }
        assert row is not None  # a hash to verify: a known charge point
        if row.pending_password_hash is not None:  # being rotated: the new one is good too
            reply["pending_password_hash"] = row.pending_password_hash
        return reply
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
        if row is not None:
            await record_security_event(
                ctx,
                chargepoint_id,
                "FailedToAuthenticateAtCsms",
                f"connection refused: {decision.reason}",
                remote_ip=clip(remote_ip, 45),
            )
    answer: Payload = {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "registration_status": registration,
    }
    if decision.refusal is not None:
        answer["refusal"] = decision.refusal
    return answer


_t = chargepoint_table.c
CONNECT_COLUMNS = select(
    _t.password_hash,
    _t.pending_password_hash,
    _t.decommissioned_at,
    _t.registration_status,
    _t.security_profile,
).where(_t.chargepoint_id == bindparam("cp_id"))
"""Built once: every connection attempt of every station runs it (a boot storm: 1,000)."""


async def _chargepoint(
    ctx: HandlerContext, chargepoint_id: str
) -> Row[Any, Any, Any, Any, Any] | None:
    """The columns the decision needs, or None for an id nobody provisioned."""
    return (await ctx.session.execute(CONNECT_COLUMNS, {"cp_id": chargepoint_id})).one_or_none()


def _decide(
    req: GatewayAuthenticate, row: Row[Any, Any, Any, Any, Any] | None
) -> ConnectDecision | str:
    """The decision, or the stored password hash when the presented password must be verified."""
    decision = connect_decision(
        known=row is not None,
        decommissioned=row is not None and row.decommissioned_at is not None,
        has_password=row is not None and row.password_hash is not None,
        presented=req.presented,
        security_profile=row.security_profile if row is not None else 0,
        presented_profile=req.security_profile,  # None: a gateway from before profiles
    )
    if decision is not None:
        return decision
    assert row is not None and isinstance(row.password_hash, str)  # connect_decision: None
    return row.password_hash
