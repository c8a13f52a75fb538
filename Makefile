# FixOps developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.fixops-deps
PYTEST_ARGS ?=
# The fast tier runs in this many processes (pytest-xdist; each on its own test database,
# <name>_gw0, _gw1, ...); 1 runs it in one process.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
XDIST = $(if $(filter-out 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS),)
# The slow tier runs in one process more than the fast tier (one when PYTEST_WORKERS=1): its
# tests start servers, workers, browsers and clusters of their own, each on a free port, a
# queue of its own and its process's test database (<name>_gw0, _gw1, ...), so any two may
# overlap, and its longest ones mostly wait (two beats for two minutes, Locust for 60 s), so a
# third process on two cores keeps the CPU busy meanwhile (measured: 6.3 min with two, 5.4 with
# three). --dist loadgroup hands out one test at a time to whichever process is free, in the
# order tests/conftest.py gives: longest first.
SLOW_WORKERS ?= $(shell [ $(PYTEST_WORKERS) -gt 1 ] && echo $$(( $(PYTEST_WORKERS) + 1 )) || echo 1)
SLOW_XDIST = $(if $(filter-out 1,$(SLOW_WORKERS)),-n $(SLOW_WORKERS) --dist loadgroup,)

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast test-slow test-peers lint format bench bench-compare load migrate shell sync-schedules requirements up down check-deploy

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): requirements/base.txt requirements/dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: FixOps needs Python 3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.txt -r requirements/dev.txt
	@touch $@

install: $(STAMP) ## Create the venv in .venv and install pinned requirements

run: $(STAMP) ## Migrate, load the demo tenant, start web + worker + beat on 127.0.0.1:8000
	PY=$(PY) HOST=$(HOST) PORT=$(PORT) bin/run-embedded

# The suite in two tiers, one coverage report: fast (in-process) then slow (real processes:
# browser, worker crashes, gunicorn under hostile input). Each prints its own time; the slow
# tier reuses the databases the fast tier created (pytest-cov gathers the xdist processes'
# coverage in both tiers; the slow tier appends to the fast tier's).
COV_ARGS := --cov --cov-report=term:skip-covered --cov-report=xml:var/coverage.xml
test: $(STAMP) test-peers ## Run the whole test suite, fast tier then slow tier, with coverage
	@mkdir -p var
	$(PY) -m pytest -m "not slow" $(XDIST) --cov --cov-report= $(PYTEST_ARGS)
	$(PY) -m pytest -m slow $(SLOW_XDIST) --cov-append $(COV_ARGS) $(filter-out --create-db,$(PYTEST_ARGS))

test-fast: $(STAMP) test-peers ## Only the fast tier (no real processes)
	$(PY) -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

test-slow: $(STAMP) test-peers ## Only the slow tier (browser, worker crashes, gunicorn)
	$(PY) -m pytest -m slow $(SLOW_XDIST) $(PYTEST_ARGS)

test-peers: ## Install the Node test peers; name any other missing peer in one line
	@bin/test-peers

lint: $(STAMP) ## Check style, lint and the layer contracts of docs/architecture.md (never writes)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP) ## Format and auto-fix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP) ## Run the benchmarks in tests/bench (prints figures; not part of make test)
	$(PY) -m pytest tests/bench -p no:randomly -s -q -o addopts="" --ds=fixops.settings.test $(PYTEST_ARGS)

RUNS ?= 3
bench-compare: $(STAMP) ## Benchmarks of BASE=<rev> vs this tree, interleaved [BENCH=files] [RUNS=3]
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<rev> [BENCH=tests/bench/test_bench_x.py ...] [RUNS=3]"; exit 2; }
	$(PY) tools/bench_compare.py --runs $(RUNS) $(BASE) $(BENCH)

USERS ?= 50,100,200,400,1000
DURATION ?= 90
WEB_WORKERS ?= 4
load: $(STAMP) ## Load test: gunicorn + worker on PostgreSQL/Redis vs Locust [USERS=50,100 DURATION=90 WEB_WORKERS=4]
	$(PY) tools/loadtest.py --users $(USERS) --duration $(DURATION) --web-workers $(WEB_WORKERS) $(LOAD_ARGS)

migrate: $(STAMP) ## Apply database migrations
	$(PY) manage.py migrate

shell: $(STAMP) ## Django shell
	$(PY) manage.py shell

sync-schedules: $(STAMP) ## Write the periodic tasks declared in fixops/schedules.py to beat
	$(PY) manage.py sync_schedules

check-deploy: $(STAMP) ## Django's deployment checks in production mode (needs the secrets set)
	FIXOPS_ENV=production $(PY) manage.py check --deploy --fail-level WARNING

requirements: $(STAMP) ## Re-compile requirements/*.txt from the .in files
	cd requirements && ../$(PY) -m piptools compile -q --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o base.txt base.in
	cd requirements && ../$(PY) -m piptools compile -q --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o dev.txt dev.in

up: ## Start the production-like stack with Docker Compose
	docker compose -f docker/compose.yaml up --build -d

down: ## Stop the Docker Compose stack
	docker compose -f docker/compose.yaml down
