# Portal: `make run` serves the portal with demo data; `make test` runs every test.
# Both work on a bare machine with Python 3.12: the first call creates .venv.

PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
PY := $(BIN)/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
UV_VERSION := 0.13.8

.PHONY: run install test lint format worker clean bench

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Installs exactly what uv.lock pins (dev tools included).
install: $(BIN)/activate
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PY) --quiet

# Development mode unless the environment says otherwise.
run: export DEBUG ?= 1
run: install
	mkdir -p var
	$(MANAGE) migrate --noinput
	$(MANAGE) load_demo_data
	$(MANAGE) simulate_gateway --if-empty
	@echo "Serving on http://$(HOST):$(PORT)/ with a Celery worker and beat (Ctrl-C stops all)."
	trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A portal worker --beat --loglevel=INFO --concurrency=2 & \
	$(MANAGE) runserver $(HOST):$(PORT)

worker: export DEBUG ?= 1
worker: install
	$(BIN)/celery -A portal worker --beat --loglevel=INFO

test: install lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks need PostgreSQL (DATABASE_URL, migrated) and wrk; each prints a JSON line.
bench: install
	DEBUG=1 $(MANAGE) migrate --noinput
	$(PY) -m bench.decisions
	$(PY) -m bench.routing
	$(PY) -m bench.ingest
	$(PY) -m bench.purge
	$(PY) -m bench.export

clean:
	rm -rf var db.sqlite3 staticfiles
