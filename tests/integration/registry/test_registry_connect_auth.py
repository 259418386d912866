"""`gateway.authenticate` (security profile 1) through the registry Dispatcher, real database."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest

from services.registry.handlers import connect_auth
from shared.bus.topology import GATEWAY_AUTHENTICATE
from shared.envelope import Envelope, Kind, utcnow
from shared.passwords import hash_password
from shared.settings import Settings, UnknownChargePointPolicy

from .helpers import RecordingPublisher, Run, Sql, call

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery"
HASH = hash_password(PASSWORD)


def auth(cp: str, password: str | None, *, age: float = 0.0, ip: str = "192.0.2.7") -> Envelope:
    """The request as services/gateway/auth.py sends it."""
    return Envelope(
        kind=Kind.CALL,
        action=GATEWAY_AUTHENTICATE,
        chargepoint_id=cp,
        node_id="test-node",
        correlation_id=uuid.uuid4().hex,
        payload={"chargepoint_id": cp, "password": password, "remote_ip": ip},
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
    [reply] = await run([request])
    assert reply is not None and reply.kind is Kind.RESULT, reply
    assert set(reply.payload) == {"allowed", "reason"}
    assert reply.correlation_id == request.correlation_id
    return reply.payload


async def test_password_checked(run: Run, sql: Sql, cp: str) -> None:
    await provision(sql, cp)
    assert (await decide(run, auth(cp, PASSWORD)))["allowed"] is True
    assert await decide(run, auth(cp, PASSWORD + "x")) == {
        "allowed": False,
        "reason": "wrong password",
    }
    assert await decide(run, auth(cp, None)) == {"allowed": False, "reason": "password required"}
    assert (await decide(run, auth(cp, "")))["allowed"] is False


async def test_decommissioned_is_refused(run: Run, sql: Sql, cp: str) -> None:
    await provision(sql, cp, decommissioned=True)
    assert await decide(run, auth(cp, PASSWORD)) == {"allowed": False, "reason": "decommissioned"}


async def test_rejected_may_connect(run: Run, sql: Sql, cp: str) -> None:
    # Refused at boot instead (it retries after the interval rather than reconnecting).
    await provision(sql, cp, status="Rejected")
    assert (await decide(run, auth(cp, PASSWORD)))["allowed"] is True
    assert (await decide(run, auth(cp, "wrong-password-123")))["allowed"] is False


async def test_no_password_set_is_profile_0(run: Run, sql: Sql, cp: str) -> None:
    await provision(sql, cp, password_hash=None)
    assert (await decide(run, auth(cp, None)))["allowed"] is True
    assert (await decide(run, auth(cp, "anything-at-all-123")))["allowed"] is True


@pytest.mark.parametrize(
    "settings",
    [Settings(unknown_chargepoints=UnknownChargePointPolicy.REJECT)],
    ids=["reject-policy"],
)
async def test_unknown_id_is_allowed_and_not_created(run: Run, sql: Sql, cp: str) -> None:
    # Even under `reject`: the BootNotification answers (and records) it.
    assert (await decide(run, auth(cp, None)))["allowed"] is True
    assert (await decide(run, auth(cp, "some-password-1234")))["allowed"] is True
    assert await sql("select 1 from chargepoint where chargepoint_id = :cp", cp=cp) == []


async def test_batch_with_boots_and_no_message_log(
    run: Run, sql: Sql, cp: str, publisher: RecordingPublisher
) -> None:
    await provision(sql, cp)
    boot = call(cp, "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})
    replies = await run([auth(cp, PASSWORD), boot, auth(cp, "nope-nope-nope-nope")])
    assert [r.payload.get("allowed") for r in replies if r is not None] == [True, None, False]
    logged = await sql("select action from ocpp_message where chargepoint_id = :cp", cp=cp)
    assert [row["action"] for row in logged] == ["BootNotification", "BootNotification"]
    assert publisher.named("chargepoint.booted")


async def test_expired_request_is_not_verified(
    run: Run, sql: Sql, cp: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await provision(sql, cp)

    def no_verify(*_a: object) -> bool:
        raise AssertionError("an expired request must not be verified")

    monkeypatch.setattr(connect_auth, "verify_password", no_verify)
    [reply] = await run([auth(cp, PASSWORD, age=settings.upstream_call_timeout + 1)])
    # An error (the gateway would answer 503), never a wrong refusal.
    assert reply is not None and reply.kind is Kind.ERROR
    # Cheap decisions need no verification and are still answered.
    assert (await decide(run, auth(cp, None, age=60)))["allowed"] is False


async def test_refusals_logged_with_ip_never_the_password(
    run: Run, sql: Sql, cp: str, caplog: pytest.LogCaptureFixture
) -> None:
    await provision(sql, cp)
    with caplog.at_level(logging.WARNING, logger=connect_auth.__name__):
        await decide(run, auth(cp, "the-wrong-password-42", ip="198.51.100.9"))
    [record] = [r for r in caplog.records if r.name == connect_auth.__name__]
    assert record.levelno == logging.WARNING
    assert "198.51.100.9" in record.getMessage() and cp in record.getMessage()
    assert "wrong password" in record.getMessage()
    assert "the-wrong-password-42" not in caplog.text
