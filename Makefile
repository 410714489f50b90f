# The front door: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app backoffice
HOST   ?= 127.0.0.1
PORT   ?= 5000
STAMP  := $(VENV)/.installed

.PHONY: run test install db demo worker lint serve-production clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

db: install
	$(FLASK) init-db

demo: db
	$(FLASK) seed-demo --if-empty

run: demo
	@echo "Back-office : http://$(HOST):$(PORT)/"
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Production mode: the job worker (backoffice/worker.py) on every queue (REDIS_URL must
# be set); `python -m backoffice.worker certificats` for one queue.
worker: install
	@test -n "$$REDIS_URL" || { echo "REDIS_URL n'est pas défini."; exit 1; }
	$(BIN)/python -m backoffice.worker

serve-production: db
	$(BIN)/gunicorn --bind $(HOST):$(PORT) 'backoffice:create_app()'  # gunicorn.conf.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/bandit -q -r backoffice jobs scripts -l
	$(BIN)/python scripts/audit_dependencies.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Benchmarks at scale (docs/benchmarks.md): about two hours at the default sizes (1M
# candidatures on PostgreSQL); BENCH_SIZES=10000 BENCH_SQLITE= for a few minutes.
.PHONY: bench
bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	bash bench/reproduce.sh
