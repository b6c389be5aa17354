# Portal: `make run` serves the portal with demo data; `make test` runs every test.
# Both work on a bare machine with Python 3.12: the first call creates .venv. Without
# DATABASE_URL they use a private PostgreSQL server under var/postgres/ (portal/devdb.py),
# without REDIS_URL a private Valkey server under var/redis/ (portal/devredis.py), both
# from pinned wheels: started when needed, stopped by whoever started them.

PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
PY := $(BIN)/python
MANAGE := $(PY) manage.py
# Runs a command on the private PostgreSQL and Valkey servers (each unless DATABASE_URL,
# REDIS_URL is set): starts them if needed, and stops afterwards those it started.
WITH_DB := $(PY) -m portal.devdb run
HOST ?= 127.0.0.1
PORT ?= 8000
UV_VERSION := 0.13.8

.PHONY: run install test lint format worker clean bench db db-stop

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Installs exactly what uv.lock pins (dev tools included).
install: $(BIN)/activate
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PY) --quiet

# Development mode unless the environment says otherwise. Ctrl-C stops the server, the
# worker and, once both have ended, the private servers this started.
run: export DEBUG ?= 1
run: install
	mkdir -p var
	$(WITH_DB) sh -c '\
	  set -e; \
	  $(MANAGE) migrate --noinput; \
	  $(MANAGE) load_demo_data; \
	  $(MANAGE) simulate_gateway --if-empty; \
	  echo "Serving on http://$(HOST):$(PORT)/ with a Celery worker and beat (Ctrl-C stops all)."; \
	  $(BIN)/celery -A portal worker --beat --loglevel=INFO --concurrency=2 & \
	  worker=$$!; \
	  trap "trap - INT TERM EXIT; kill $$worker 2>/dev/null; wait $$worker" INT TERM EXIT; \
	  $(MANAGE) runserver $(HOST):$(PORT)'

worker: export DEBUG ?= 1
worker: install
	$(WITH_DB) $(BIN)/celery -A portal worker --beat --loglevel=INFO

# pytest starts the private servers itself when DATABASE_URL or REDIS_URL is unset, and
# stops at the end those it started (tests/conftest.py).
test: install lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The private PostgreSQL and Valkey servers by hand, for manage.py, psql and redis-cli
# (`python -m portal.devdb url` and `redis-url` print their URLs); they run until `make
# db-stop` or `make clean`.
db: install
	mkdir -p var
	$(PY) -m portal.devdb start

db-stop:
	if [ -x $(PY) ]; then $(PY) -m portal.devdb stop; fi

# Benchmarks need PostgreSQL and Redis (DATABASE_URL and REDIS_URL, or the private
# servers) and wrk; each prints a JSON line. Their figures: bench/README.md.
bench: install
	mkdir -p var
	$(WITH_DB) sh -c '\
	  set -e; \
	  DEBUG=1 $(MANAGE) migrate --noinput; \
	  $(PY) -m bench.decisions; \
	  $(PY) -m bench.routing; \
	  $(PY) -m bench.ingest; \
	  $(PY) -m bench.purge; \
	  $(PY) -m bench.export; \
	  $(PY) -m bench.activity'

clean: db-stop
	rm -rf var staticfiles
