"""Test-wide configuration: fixture plugins live in tests/fixtures/, one module per concern."""

import os

import hypothesis

os.environ.setdefault("CSMS_ENV", "test")
os.environ.setdefault("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/csms_test")
os.environ.setdefault("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/csms_test")
# Whatever a test builds from Settings() (an app's lifespan, a service) talks to the test
# database and vhost, never to a developer's `make run` ones, whatever the shell or .env says.
os.environ["CSMS_DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
os.environ["CSMS_AMQP_URL"] = os.environ["TEST_AMQP_URL"]

# Property tests (hypothesis; schemathesis builds on it) in `make test`: the same examples every
# run (derandomized) and no per-example deadline (hypothesis' default 200 ms is a speed assertion
# that a busy machine fails now and then). `make fuzz` runs them with the `explore` profile:
# random examples from a seed it prints (`--hypothesis-seed`), so a find can be replayed.
hypothesis.settings.register_profile("suite", derandomize=True, deadline=None, database=None)
hypothesis.settings.register_profile("explore", deadline=None, database=None, print_blob=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.bus",
    "tests.fixtures.dispatch",
    "tests.fixtures.passwords",
]
