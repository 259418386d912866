"""SignCertificate through the registry's Dispatcher on the real database: accepted once per
message (a redelivery is one row, one event), refusals recorded, at most
MAX_REQUESTS_PER_HOUR accepted CSRs per charge point an hour."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.registry.certificates import CERTIFICATE_REQUESTED, MAX_REQUESTS_PER_HOUR
from shared.envelope import Envelope
from shared.settings import Settings
from tests.factories import RecordingPublisher, Run, Sql
from tests.fixtures.pki import make_ca, make_csr

from .helpers import call

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    cert, key = make_ca().write(tmp_path, "ca")
    return Settings(heartbeat_interval=120, ca_cert=str(cert), ca_key=str(key))


def status(outcome: object) -> str:
    assert isinstance(outcome, Envelope), outcome
    return str(outcome.payload["status"])


async def test_accepted_once_per_message_then_limited(
    run: Run, sql: Sql, publisher: RecordingPublisher, cp: str
) -> None:
    first = call(cp, "SignCertificate", {"csr": make_csr(cp)[0]})
    [answer] = await run([first])
    assert status(answer) == "Accepted"
    [again] = await run([first])  # redelivered: answered the same, one row, one event
    assert status(again) == "Accepted"
    rows = await sql("select status from issued_certificate where chargepoint_id = :cp", cp=cp)
    assert rows == [{"status": "requested"}]
    assert len(publisher.named(CERTIFICATE_REQUESTED)) == 1
    for _ in range(MAX_REQUESTS_PER_HOUR - 1):
        [ok] = await run([call(cp, "SignCertificate", {"csr": make_csr(cp)[0]})])
        assert status(ok) == "Accepted"
    [limited] = await run([call(cp, "SignCertificate", {"csr": make_csr(cp)[0]})])
    assert status(limited) == "Rejected"
    events = await sql(
        "select type, tech_info from security_event where chargepoint_id = :cp", cp=cp
    )
    assert events == [
        {
            "type": "InvalidCsr",
            "tech_info": "SignCertificate rejected: 10 certificates requested in the last hour "
            "(at most 10)",
        }
    ]
    count = await sql(
        "select count(*) as n from issued_certificate where chargepoint_id = :cp", cp=cp
    )
    assert count == [{"n": MAX_REQUESTS_PER_HOUR}]
