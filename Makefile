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
GATEWAY_PORT ?= 4000
# The shared secret of the portal's gateway API, generated once: `make run` serves the
# API with it and `make gateway`'s proxy calls the API with it (unless set already).
GATEWAY_TOKEN_FILE := var/gateway-token
LITELLM_MASTER_KEY_FILE := var/litellm-master-key

.PHONY: run gateway install test lint format worker clean bench db db-stop

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Installs exactly what uv.lock pins (dev tools included).
install: $(BIN)/activate
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PY) --quiet

# Development mode unless the environment says otherwise. Ctrl-C stops the server, the
# worker and, once both have ended, the private servers this started.
run: export DEBUG ?= 1
run: export PORTAL_GATEWAY_TOKEN ?= $(shell cat $(GATEWAY_TOKEN_FILE) 2>/dev/null)
run: install $(GATEWAY_TOKEN_FILE)
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

# Secrets made here, readable by their owner only. LiteLLM refuses a weak master key
# (its admin key; the plugin refuses it for chat requests: it is no portal key).
$(GATEWAY_TOKEN_FILE): | install
	mkdir -p var
	umask 077 && $(PY) -c "import secrets; print(secrets.token_urlsafe(32))" > $@

$(LITELLM_MASTER_KEY_FILE): | install
	mkdir -p var
	umask 077 && $(PY) -c "import secrets; print('sk-' + secrets.token_urlsafe(32))" > $@

# The LiteLLM proxy with the portal plugin (integrations/litellm) on port 4000, beside
# `make run`'s portal (start that first): one mock deployment per catalog endpoint
# (var/litellm.yaml, from `manage.py litellm_config`). The proxy reads DATABASE_URL as
# its own database, so it runs without one, and with the cost map shipped in its wheel.
gateway: export DEBUG ?= 1
gateway: install $(GATEWAY_TOKEN_FILE) $(LITELLM_MASTER_KEY_FILE)
	$(WITH_DB) sh -c '$(MANAGE) migrate --noinput && $(MANAGE) load_demo_data && \
	  $(MANAGE) litellm_config --output var/litellm.yaml'
	@echo "LiteLLM proxy on http://$(HOST):$(GATEWAY_PORT)/ for the portal at http://$(HOST):$(PORT)/"
	env -u DATABASE_URL -u REDIS_URL \
	  LITELLM_LOCAL_MODEL_COST_MAP=True \
	  LITELLM_MASTER_KEY="$$(cat $(LITELLM_MASTER_KEY_FILE))" \
	  PORTAL_URL=http://$(HOST):$(PORT) \
	  PORTAL_GATEWAY_TOKEN="$${PORTAL_GATEWAY_TOKEN:-$$(cat $(GATEWAY_TOKEN_FILE))}" \
	  PORTAL_SPOOL_DIR=var/portal-litellm-spool \
	  $(BIN)/litellm --config var/litellm.yaml --host $(HOST) --port $(GATEWAY_PORT)

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
	  $(PY) -m bench.activity; \
	  $(PY) -m bench.gateway'

clean: db-stop
	rm -rf var staticfiles
