# The front door: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app backoffice
HOST   ?= 127.0.0.1
PORT   ?= 5000
STAMP  := $(VENV)/.installed
PRODUCTION_STAMP := $(VENV)/.production

# `make install-production` makes a runtime-only venv: the commands a deployment runs (db,
# worker, serve-production) then use it as it is, instead of installing the test and
# development tools into it.
ifneq ($(wildcard $(PRODUCTION_STAMP)),)
READY := $(PRODUCTION_STAMP)
else
READY := $(STAMP)
endif

.PHONY: run test test-fast typecheck install install-production lock db demo worker lint serve-production clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

# Production: the runtime dependencies pinned with their hashes (requirements/production.txt,
# `make lock`), then the application itself; no test or development tool.
install-production:
	@test ! -e $(STAMP) || { echo "$(VENV) est l'environnement de développement (make install) : supprimez-le ou choisissez un autre dossier (VENV=…)."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/production.txt
	rm -rf build  # setuptools would ship files deleted since a previous build
	$(BIN)/python -m pip install --quiet --no-deps .
	touch $(PRODUCTION_STAMP)

# Re-pin the production dependencies after a change of pyproject.toml's dependencies.
lock: install
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements/production.txt pyproject.toml

# Creates the database if missing (PostgreSQL), migrates it under a lock, loads the
# reference data of data/: the only command that migrates.
# With APP_DB_ROLE set (production), then grants the application's role what it needs and
# no more: it must not own the audit table (docs/operations.md, "Database roles"); the
# role's password, if any, is read from the variable named by APP_DB_PASSWORD_ENV.
db: $(READY)
	$(FLASK) init-db
	@if [ -n "$(APP_DB_ROLE)" ]; then $(FLASK) roles-bd --app-role "$(APP_DB_ROLE)" \
		$(if $(APP_DB_PASSWORD_ENV),--password-env $(APP_DB_PASSWORD_ENV)); fi

demo: db
	$(FLASK) seed-demo --if-empty --historique 20

run: demo
	@echo "Back-office : http://$(HOST):$(PORT)/"
	$(FLASK) run --host $(HOST) --port $(PORT)

# Two runs: every test but the slow ones on every core (pytest-xdist: each worker has its
# own databases and Redis database number, tests/conftest.py), then the slow ones
# (browsers, subprocesses, servers on fixed ports) in one process. PYTEST_ARGS go to both;
# `make test` fails when either fails (pytest's 5, nothing selected, only when both
# selected nothing). The slowest tests are listed (--durations) to keep CI under 30 minutes.
test: install
	@$(BIN)/python -m pytest -m "not slow" -n auto --durations=15 $(PYTEST_ARGS); fast=$$?; \
	$(BIN)/python -m pytest -m slow --durations=25 $(PYTEST_ARGS); slow=$$?; \
	echo "make test : tests rapides (parallèles) $$fast, tests lents (en série) $$slow"; \
	if [ $$fast -eq 5 ] && [ $$slow -eq 5 ]; then exit 5; fi; \
	for code in $$fast $$slow; do [ $$code -eq 0 ] || [ $$code -eq 5 ] || exit $$code; done

# Every test but the slow ones (browsers, subprocesses, packaging, benchmark smoke:
# tests/conftest.py), on as many processes as cores; each worker has its own databases and
# Redis database number.
test-fast: install
	$(BIN)/python -m pytest -m "not slow" -n auto $(PYTEST_ARGS)

# Production mode: the job worker (backoffice/worker.py) on every queue (REDIS_URL must
# be set); `python -m backoffice.worker certificats` for one queue.
worker: $(READY)
	@test -n "$$REDIS_URL" || { echo "REDIS_URL n'est pas défini."; exit 1; }
	$(BIN)/python -m backoffice.worker

# Does not migrate: run `make db` first (deployments run it once, before the hosts start).
serve-production: $(READY)
	$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) backoffice.wsgi:app

lint: install
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r backoffice jobs scripts -l
	$(BIN)/mypy
	$(BIN)/python scripts/audit_dependencies.py

# mypy at its default strictness ([tool.mypy] in pyproject.toml), alone (`make lint` runs it too).
typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

# Benchmarks at scale (docs/benchmarks.md): about two hours at the default sizes (1M
# candidatures on PostgreSQL); BENCH_SIZES=10000 BENCH_SQLITE= for a few minutes.
.PHONY: bench
bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	bash bench/reproduce.sh
