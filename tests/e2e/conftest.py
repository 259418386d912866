"""Fixtures: the whole system as real processes on the test database and an e2e vhost."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import Stack, free_port, stack_env
from services.api.security import hash_password
from tests.fixtures.pki import Issued, make_ca, make_leaf
from tests.patience import PATIENCE

E2E_VHOST_SUFFIX = "_e2e"


@pytest.fixture(scope="session")
def e2e_amqp_url() -> str:
    """TEST_AMQP_URL with `_e2e` appended to its vhost (`csms_test` -> `csms_test_e2e`), the
    pair `make vhost` creates: a suite run on its own vhost gets its own e2e vhost too."""
    base = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/csms_test")
    prefix, _, vhost = base.rpartition("/")
    return f"{prefix}/{vhost or 'csms_test'}{E2E_VHOST_SUFFIX}"


@dataclass(frozen=True)
class StackPki:
    """The test CA of the e2e stack: its gateway's server certificate, charge point ones."""

    directory: Path
    ca: Issued

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"


@pytest.fixture(scope="package")
def stack_pki(tmp_path_factory: pytest.TempPathFactory) -> StackPki:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    ca.write(directory, "ca")  # ca.pem; ca.key for the built-in CA (CSMS_CA_KEY)
    make_leaf(ca, "gateway", server=True).write(directory, "server")
    return StackPki(directory, ca)


@pytest.fixture(scope="package")
async def stack(
    db_url: str, e2e_amqp_url: str, tmp_path_factory: pytest.TempPathFactory, stack_pki: StackPki
) -> AsyncIterator[Stack]:
    """Every service running as a process, for the e2e package (stopped after it); the gateway
    serves wss:// too (`CSMS_GATEWAY_TLS_PORT`), with client certificates of `stack_pki`,
    whose CA is also the built-in CA that signs charge point certificates."""
    health = {name: free_port() for name in ("registry", "transactions", "charging")}
    port = free_port()
    env = stack_env(db_url, e2e_amqp_url, port, health)
    env.update(
        CSMS_GATEWAY_TLS_CERT=str(stack_pki.directory / "server.pem"),
        CSMS_GATEWAY_TLS_KEY=str(stack_pki.directory / "server.key"),
        CSMS_GATEWAY_TLS_CA=str(stack_pki.ca_file),
        CSMS_GATEWAY_TLS_PORT=str(free_port()),
        # The built-in CA signs charge point certificates (SignCertificate) with the same CA.
        CSMS_CA_CERT=str(stack_pki.ca_file),
        CSMS_CA_KEY=str(stack_pki.directory / "ca.key"),
        # The test's OCSP responders listen on loopback.
        CSMS_OCSP_ALLOW_PRIVATE_RESPONDERS="true",
    )
    s = Stack(
        env=env,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
        gateway_port=port,
        health_ports=health,
    )
    try:
        for name in ("registry", "transactions", "charging", "gateway", "api"):
            await s.start(name)
        yield s
    finally:
        await s.stop_all()


@pytest.fixture
async def api(
    stack: Stack, db_engine: AsyncEngine, clean_db: None
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin-authenticated client of the running api process (after the tables are emptied)."""
    async with db_engine.begin() as conn:
        await conn.execute(
            text(
                "insert into user_account (id, email, password_hash, role, is_active) "
                "values (gen_random_uuid(), 'admin@example.com', :h, 'admin', true)"
            ),
            {"h": hash_password("admin-change-me")},
        )
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=PATIENCE) as client:
        token = await client.post(
            "/api/v1/auth/token",
            data={"username": "admin@example.com", "password": "admin-change-me"},
        )
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
