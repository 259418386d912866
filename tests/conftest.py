"""Test-wide configuration: fixture plugins live in tests/fixtures/, one module per concern."""

import os

os.environ.setdefault("CSMS_ENV", "test")
os.environ.setdefault("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/csms_test")
os.environ.setdefault("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/csms_test")

pytest_plugins = ["tests.fixtures.db", "tests.fixtures.bus"]
