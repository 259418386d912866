"""Fuzz the whole OpenAPI document: no 5xx, no response that violates the schema.

Every default check runs except `positive_data_acceptance`: some rules are not expressible in
JSON Schema (a location that must exist, an IANA time zone, a non-empty image) and their 422
is the intended answer to schema-valid data.

The app under fuzzing runs on schemathesis's own event loop (its ASGI client), so it creates
its own engine in its lifespan instead of borrowing the test session's. It has a broker (the
test vhost) and the fuzzing waits until its bus is connected: without one every valid command
is a 503, with one a 404 (no such charge point) — that must not depend on a race.

Deterministic in `make test`: a fixed seed, derandomized, FUZZ_EXAMPLES (default 5) examples
per operation and mode (about 700 requests). `make fuzz` is the exploratory run: a random
seed (printed; `make fuzz FUZZ_SEED=<n>` replays it) and more examples.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.api.app import create_app
from tests.patience import PATIENCE

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Actor, make_settings
from .factories import Factory

ENDLESS = frozenset({"/api/v1/events/stream"})
"""Operations whose 200 answer never ends (Server-Sent Events): an in-process call would wait
forever. tests/integration/events/test_stream.py reads them over a real server."""

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("FUZZ_SEED", "20250917"))
EXPLORATORY = os.environ.get("FUZZ_EXPLORATORY") == "1"
"""`make fuzz`: the seed is random (chosen by the Makefile), so do not derandomize."""
TIMEOUT = 0 if EXPLORATORY else 900
"""A hang detector only: this one test runs for minutes on a busy machine (none for `make fuzz`,
whose length is FUZZ_EXAMPLES')."""


@pytest.fixture
async def seeded(factory: Factory, driver: Actor) -> None:
    """A few rows of every kind, so list endpoints answer with real items."""
    location = await factory.location()
    cp = await factory.chargepoint(location_uuid=location.uuid)
    connector = await factory.connector(cp.chargepoint_id)
    tag = await factory.idtag(user_id=driver.id)
    tx = await factory.transaction(cp.chargepoint_id, tag.id_token)
    await factory.meter_value(tx.transaction_id, cp.chargepoint_id)
    await factory.reservation(connector, tag.id_token)
    await factory.status_notification(cp.chargepoint_id)
    await factory.heartbeat(cp.chargepoint_id)
    await factory.command(cp.chargepoint_id)
    await factory.ocpp_message(cp.chargepoint_id)
    profile = await factory.charging_profile(chargepoint_id=cp.chargepoint_id)
    await factory.installation(profile.chargingprofile_id, cp.chargepoint_id)


@pytest.fixture
def fuzz_app(seeded: None, db_url: str, amqp_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    """A separate app instance whose lifespan schemathesis runs on its own loop."""
    app = create_app(make_settings(db_url, tmp_path / "fuzz-media", amqp_url))
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture
def fuzz_schema(fuzz_app: FastAPI) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, requests sent in-process."""
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.fixture
def admin_headers(fuzz_app: FastAPI) -> dict[str, str]:
    """A bearer token of the bootstrapped admin, obtained through the API itself."""
    with asgi.get_client(cast(Any, fuzz_app)) as client:
        r = client.post(
            "/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert r.status_code == 200, r.text
    # The lifespan (started by that first request) connects the bus in the background.
    deadline = time.monotonic() + PATIENCE
    while fuzz_app.state.bus is None:
        assert time.monotonic() < deadline, "the fuzzed app's bus did not connect"
        time.sleep(0.05)
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _fuzz_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    headers: dict[str, str],
) -> None:
    @seed(SEED)
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=not EXPLORATORY,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],
        print_blob=EXPLORATORY,
    )
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    run()


def _is_pytest_outcome(exc: BaseException) -> bool:
    """pytest.fail / skip (pytest-timeout fails a test that way), bare or in a group."""
    outcomes = (pytest.fail.Exception, pytest.skip.Exception)
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(lambda e: isinstance(e, outcomes)) is not None
    return isinstance(exc, outcomes)


@pytest.mark.timeout(TIMEOUT)
def test_api_conforms_to_its_openapi(
    fuzz_schema: schemathesis.BaseSchema, admin_headers: dict[str, str]
) -> None:
    """Every operation, positive and negative data, as the admin."""
    failures: list[str] = []
    operations = 0
    for result in fuzz_schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1
        if operation.path in ENDLESS:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, admin_headers)
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # collect them all
                if _is_pytest_outcome(exc):
                    raise  # pytest's own (a timeout): never a "flaky" example to collect
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert operations > 30
    assert not failures, f"FUZZ_SEED={SEED} FUZZ_EXAMPLES={MAX_EXAMPLES}:\n" + "\n\n".join(failures)
