"""`gateway.authenticate` (security profile 1) through the registry Dispatcher, real database."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest

from services.gateway.auth import password_fingerprint
from services.registry.handlers import connect_auth
from shared.bus import INVALID_PAYLOAD, Rejected
from shared.bus.topology import GATEWAY_AUTHENTICATE, GATEWAY_CONNECTED
from shared.envelope import Envelope, Kind, utcnow
from shared.passwords import hash_password
from shared.settings import Settings, UnknownChargePointPolicy
from tests.factories import RecordingPublisher, Run, Sql

from .helpers import call, connection_event

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery"
HASH = hash_password(PASSWORD)


def auth(
    cp: str,
    presented: object,
    *,
    age: float = 0.0,
    ip: str = "192.0.2.7",
    profile: object = None,
) -> Envelope:
    """The request as services/gateway/auth.py sends it (never a password); `profile`: the
    security profile it presents (None: a gateway from before profiles, which sends none)."""
    payload = {"chargepoint_id": cp, "presented": presented, "remote_ip": ip}
    if profile is not None:
        payload["security_profile"] = profile
    return Envelope(
        kind=Kind.CALL,
        action=GATEWAY_AUTHENTICATE,
        chargepoint_id=cp,
        node_id="test-node",
        correlation_id=uuid.uuid4().hex,
        payload=payload,
        created_at=utcnow() - timedelta(seconds=age),
    )


async def provision(
    sql: Sql,
    cp: str,
    *,
    password_hash: str | None = HASH,
    status: str = "Accepted",
    decommissioned: bool = False,
    security_profile: int = 0,
) -> None:
    await sql(
        "insert into chargepoint (chargepoint_id, registration_status, password_hash, "
        "decommissioned_at, security_profile) "
        "values (:cp, :st, :h, case when :d then now() end, :sp)",
        cp=cp,
        st=status,
        h=password_hash,
        d=decommissioned,
        sp=security_profile,
    )


async def decide(run: Run, request: Envelope) -> dict[str, object]:
    """A decision the registry takes alone: `{allowed, reason, registration_status}`, never
    a hash."""
    [reply] = await run([request])
    assert isinstance(reply, Envelope) and reply.kind is Kind.RESULT, reply
    # `refusal` (credentials -> 401, profile -> 403) on refusals only.
    assert set(reply.payload) - {"refusal"} == {"allowed", "reason", "registration_status"}
    assert ("refusal" in reply.payload) is (reply.payload["allowed"] is False)
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
        "refusal": "credentials",
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
    refused = {
        "allowed": False,
        "reason": "decommissioned",
        "refusal": "credentials",
        "registration_status": "Rejected",
    }
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


# --- security profiles -------------------------------------------------------------------------


async def security_events(sql: Sql, cp: str) -> list[tuple[str, str, str | None]]:
    rows = await sql(
        "select source, type, tech_info from security_event where chargepoint_id = :cp order by id",
        cp=cp,
    )
    return [(r["source"], r["type"], r["tech_info"]) for r in rows]


@pytest.mark.parametrize(
    ("stored", "presented", "profile", "answer"),
    [
        # profile 2: Basic over TLS; the same credentials over ws:// (1) are not enough (403),
        # none at all asks for them (401).
        (2, True, 2, "verify"),
        (2, True, 1, "profile"),
        (2, False, 0, "credentials"),
        # profile 3: only a verified client certificate, no password needed.
        (3, False, 3, "allowed"),
        (3, True, 2, "profile"),
        (3, False, 0, "profile"),
        # a certificate is more than enough for a lower profile.
        (1, False, 3, "allowed"),
    ],
)
async def test_connection_below_the_profile_is_refused(
    run: Run,
    sql: Sql,
    cp: str,
    publisher: RecordingPublisher,
    stored: int,
    presented: bool,
    profile: int,
    answer: str,
) -> None:
    await provision(sql, cp, security_profile=stored)
    request = auth(cp, presented, profile=profile, ip="198.51.100.4")
    if answer == "verify":
        assert await to_verify(run, request) == VERIFY
        assert await security_events(sql, cp) == []
        return
    reply = await decide(run, request)
    if answer == "allowed":
        assert reply["allowed"] is True
        assert await security_events(sql, cp) == []
        return
    assert (reply["allowed"], reply["refusal"]) == (False, answer)
    # Recorded as a security event (row and domain event), with what was presented.
    [(source, kind, info)] = await security_events(sql, cp)
    assert (source, kind) == ("csms", "FailedToAuthenticateAtCsms")
    assert info is not None and info.startswith("connection refused: ")
    [event] = publisher.named("chargepoint.security_event")
    assert event.payload["type"] == "FailedToAuthenticateAtCsms"
    assert event.payload["source"] == "csms"
    # ... and the public security.event, written to the event outbox with the row.
    [public] = await sql(
        "select data from event_outbox where chargepoint_id = :cp and type = 'security.event'",
        cp=cp,
    )
    assert public["data"]["type"] == "FailedToAuthenticateAtCsms"
    assert public["data"]["source"] == "csms"


@pytest.mark.parametrize("profile", [-1, 4, "3", True])
async def test_invalid_presented_profile_is_dead_lettered(
    run: Run, sql: Sql, cp: str, profile: object
) -> None:
    # No gateway sends it: refused before the handler, like an invalid `presented`.
    await provision(sql, cp)
    [outcome] = await run([auth(cp, True, profile=profile)])
    assert isinstance(outcome, Rejected) and outcome.reason == INVALID_PAYLOAD
    assert "security_profile" in outcome.detail
    assert await security_events(sql, cp) == []


def connected_with(cp: str, profile: int) -> Envelope:
    """`gateway.connected` of a socket that presented `profile`."""
    env = connection_event(cp, GATEWAY_CONNECTED, node="n1", ip="198.51.100.5", port=4000)
    return env.model_copy(update={"payload": {**env.payload, "security_profile": profile}})


async def profiles(sql: Sql, cp: str) -> tuple[int, int | None]:
    [row] = await sql(
        "select security_profile, pending_security_profile from chargepoint "
        "where chargepoint_id = :cp",
        cp=cp,
    )
    return row["security_profile"], row["pending_security_profile"]


async def test_pending_profile_is_stored_once_the_station_connects_with_it(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await provision(sql, cp, security_profile=1)
    await sql(
        "update chargepoint set pending_security_profile = 2 where chargepoint_id = :cp", cp=cp
    )
    # Still profile 1 until the station comes back over TLS: profile 1 connections are let in.
    assert await to_verify(run, auth(cp, True, profile=1)) == VERIFY
    await run([connected_with(cp, 1)])
    assert await profiles(sql, cp) == (1, 2)
    # It reconnects with profile 2: stored; from then on profile 1 is refused (never downgraded).
    await run([connected_with(cp, 2)])
    assert await profiles(sql, cp) == (2, None)
    reply = await decide(run, auth(cp, True, profile=1))
    assert (reply["allowed"], reply["refusal"]) == (False, "profile")
    kinds = [kind for _source, kind, _info in await security_events(sql, cp)]
    assert kinds == ["ReconfigurationOfSecurityParameters", "FailedToAuthenticateAtCsms"]
    assert [e.payload["type"] for e in publisher.named("chargepoint.security_event")] == kinds


async def test_password_rotation_answers_both_then_promotes_the_new_one(
    run: Run, sql: Sql, cp: str
) -> None:
    await provision(sql, cp, security_profile=1)
    new_hash = hash_password("the-new-password-0123")
    await sql(
        "update chargepoint set pending_password_hash = :h where chargepoint_id = :cp",
        h=new_hash,
        cp=cp,
    )
    assert await to_verify(run, auth(cp, True, profile=1)) == VERIFY | {
        "pending_password_hash": new_hash
    }
    # A connect that names another hash (rotated again since) changes nothing ...
    stale = connected_with(cp, 1)
    stale = stale.model_copy(
        update={"payload": {**stale.payload, "new_password": password_fingerprint("x")}}
    )
    await run([stale])
    assert (await sql("select password_hash from chargepoint where chargepoint_id = :cp", cp=cp))[
        0
    ]["password_hash"] == HASH
    # ... the station connecting with the new password makes it the only one.
    fresh = connected_with(cp, 1)
    fresh = fresh.model_copy(
        update={"payload": {**fresh.payload, "new_password": password_fingerprint(new_hash)}}
    )
    await run([fresh])
    [row] = await sql(
        "select password_hash, pending_password_hash from chargepoint where chargepoint_id = :cp",
        cp=cp,
    )
    assert row == {"password_hash": new_hash, "pending_password_hash": None}
    assert await to_verify(run, auth(cp, True, profile=1)) == VERIFY | {"password_hash": new_hash}
    assert "ReconfigurationOfSecurityParameters" in [
        k for _s, k, _i in await security_events(sql, cp)
    ]
