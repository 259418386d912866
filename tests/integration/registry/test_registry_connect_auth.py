"""`gateway.authenticate` (security profile 1) through the registry Dispatcher, real database."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest

from services.registry.handlers import connect_auth
from shared.bus import INVALID_PAYLOAD, Rejected
from shared.bus.topology import GATEWAY_AUTHENTICATE
from shared.envelope import Envelope, Kind, utcnow
from shared.passwords import hash_password
from shared.settings import Settings, UnknownChargePointPolicy
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import call

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery"
HASH = hash_password(PASSWORD)


def auth(cp: str, presented: object, *, age: float = 0.0, ip: str = "192.0.2.7") -> Envelope:
    """The request as services/gateway/auth.py sends it (never a password)."""
    return Envelope(
        kind=Kind.CALL,
        action=GATEWAY_AUTHENTICATE,
        chargepoint_id=cp,
        node_id="test-node",
        correlation_id=uuid.uuid4().hex,
        payload={"chargepoint_id": cp, "presented": presented, "remote_ip": ip},
        created_at=utcnow() - timedelta(seconds=age),
    )


async def provision(
    sql: Sql,
    cp: str,
    *,
    password_hash: str | None = HASH,
    status: str = "Accepted",
    decommissioned: bool = False,
) -> None:
    await sql(
        "insert into chargepoint (chargepoint_id, registration_status, password_hash, "
        "decommissioned_at) values (:cp, :st, :h, case when :d then now() end)",
        cp=cp,
        st=status,
        h=password_hash,
        d=decommissioned,
    )


async def decide(run: Run, request: Envelope) -> dict[str, object]:
    """A decision the registry takes alone: `{allowed, reason, registration_status}`, never
    a hash."""
    [reply] = await run([request])
    assert isinstance(reply, Envelope) and reply.kind is Kind.RESULT, reply
    assert set(reply.payload) == {"allowed", "reason", "registration_status"}
    assert isinstance(reply.payload["allowed"], bool)
    assert reply.correlation_id == request.correlation_id
    return reply.payload


VERIFY = {
    "allowed": None,
    "reason": "verify",
    "password_hash": HASH,
    "registration_status": "Accepted",
}


async def to_verify(run: Run, request: Envelope) -> dict[str, object]:
    """The reply that leaves the verification to the gateway."""
    [reply] = await run([request])
    assert isinstance(reply, Envelope) and reply.kind is Kind.RESULT, reply
    assert reply.correlation_id == request.correlation_id
    return reply.payload


async def test_password_left_to_the_gateway(run: Run, sql: Sql, cp: str) -> None:
    await provision(sql, cp)
    assert await to_verify(run, auth(cp, True)) == VERIFY
    assert await decide(run, auth(cp, False)) == {
        "allowed": False,
        "reason": "password required",
        "registration_status": "Accepted",
    }


async def test_changed_password_answers_the_new_hash(run: Run, sql: Sql, cp: str) -> None:
    await provision(sql, cp)
    new_hash = hash_password("a-new-password-0123")
    await sql(
        "update chargepoint set password_hash = :h where chargepoint_id = :cp", h=new_hash, cp=cp
    )
    assert await to_verify(run, auth(cp, True)) == VERIFY | {"password_hash": new_hash}


async def test_decommissioned_is_refused(run: Run, sql: Sql, cp: str) -> None:
    await provision(sql, cp, decommissioned=True)
    refused = {"allowed": False, "reason": "decommissioned", "registration_status": "Rejected"}
    assert await decide(run, auth(cp, True)) == refused
    assert await decide(run, auth(cp, False)) == refused


async def test_rejected_may_connect(run: Run, sql: Sql, cp: str) -> None:
    # Refused at boot instead (it retries after the interval rather than reconnecting).
    await provision(sql, cp, status="Rejected")
    assert await to_verify(run, auth(cp, True)) == VERIFY | {"registration_status": "Rejected"}
    assert (await decide(run, auth(cp, False)))["allowed"] is False


@pytest.mark.parametrize("status", ["Accepted", "Pending", "Rejected"])
async def test_the_registration_status_is_answered(
    run: Run, sql: Sql, cp: str, status: str
) -> None:
    # The gateway lets nothing but BootNotification through until it is Accepted.
    await provision(sql, cp, status=status, password_hash=None)
    reply = await decide(run, auth(cp, False))
    assert reply == {
        "allowed": True,
        "reason": "no password set (security profile 0)",
        "registration_status": status,
    }


async def test_an_unknown_id_has_no_registration_status(run: Run, sql: Sql, cp: str) -> None:
    assert (await decide(run, auth(cp, False)))["registration_status"] is None


async def test_no_password_set_is_profile_0(run: Run, sql: Sql, cp: str) -> None:
    await provision(sql, cp, password_hash=None)
    assert (await decide(run, auth(cp, False)))["allowed"] is True
    assert (await decide(run, auth(cp, True)))["allowed"] is True


@pytest.mark.parametrize(
    "settings",
    [Settings(unknown_chargepoints=UnknownChargePointPolicy.REJECT)],
    ids=["reject-policy"],
)
async def test_unknown_id_is_allowed_and_not_created(run: Run, sql: Sql, cp: str) -> None:
    # Even under `reject`: the BootNotification answers (and records) it.
    assert (await decide(run, auth(cp, False)))["allowed"] is True
    assert (await decide(run, auth(cp, True)))["allowed"] is True
    assert await sql("select 1 from chargepoint where chargepoint_id = :cp", cp=cp) == []


@pytest.mark.parametrize("presented", [None, "yes", 1])
async def test_invalid_request_is_dead_lettered(
    run: Run, sql: Sql, cp: str, presented: object
) -> None:
    """No gateway sends it: refused before the handler (the consumer answers the gateway
    InternalError, which it turns into 503), no hash in any answer."""
    await provision(sql, cp)
    [outcome] = await run([auth(cp, presented)])
    assert isinstance(outcome, Rejected) and outcome.reason == INVALID_PAYLOAD
    assert "presented" in outcome.detail


async def test_request_with_a_password_is_invalid(run: Run, sql: Sql, cp: str) -> None:
    # A gateway of the previous protocol (clear password, no `presented`): refused, no hash.
    await provision(sql, cp)
    old = {"chargepoint_id": cp, "password": PASSWORD, "remote_ip": "192.0.2.7"}
    request = auth(cp, True).model_copy(update={"payload": old})
    [outcome] = await run([request])
    assert isinstance(outcome, Rejected) and outcome.reason == INVALID_PAYLOAD


async def test_batch_with_boots_and_no_message_log(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await provision(sql, cp)
    boot = call(cp, "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})
    replies = await run([auth(cp, True), boot, auth(cp, False)])
    answers = [r.payload for r in replies if isinstance(r, Envelope)]
    assert answers[0] == VERIFY
    assert [a.get("allowed") for a in answers[1:]] == [None, False]
    logged = await sql("select action from ocpp_message where chargepoint_id = :cp", cp=cp)
    assert [row["action"] for row in logged] == ["BootNotification", "BootNotification"]
    assert publisher.named("chargepoint.booted")


async def test_old_requests_are_still_answered(run: Run, sql: Sql, cp: str) -> None:
    # No expiry: answering is a cheap lookup now (the gateway ignores late replies).
    await provision(sql, cp)
    assert await to_verify(run, auth(cp, True, age=600)) == VERIFY
    assert (await decide(run, auth(cp, False, age=600)))["allowed"] is False


async def test_refusals_logged_with_ip_never_the_hash(
    run: Run, sql: Sql, cp: str, caplog: pytest.LogCaptureFixture
) -> None:
    await provision(sql, cp)
    with caplog.at_level(logging.DEBUG, logger=connect_auth.__name__):
        await decide(run, auth(cp, False, ip="198.51.100.9"))
        await to_verify(run, auth(cp, True, ip="198.51.100.9"))
    [record] = [
        r for r in caplog.records if r.name == connect_auth.__name__ and r.levelno >= logging.INFO
    ]
    assert record.levelno == logging.WARNING
    assert "198.51.100.9" in record.getMessage() and cp in record.getMessage()
    assert "password required" in record.getMessage()
    assert HASH not in caplog.text
