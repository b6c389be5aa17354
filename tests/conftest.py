from __future__ import annotations

import os

import pytest
from django.conf import settings

from portal import devdb, devredis
from tests.helpers.services import clear_test_cache

# The private servers this pytest run started (then it stops them).
_started: list = []


def pytest_configure(config) -> None:
    """Without DATABASE_URL (REDIS_URL) the tests run on the private PostgreSQL (Valkey)
    server under var/ (portal/devdb.py, portal/devredis.py), as `make run` does: started
    here unless it runs already."""
    if not os.environ.get("DATABASE_URL") and devdb.start():
        _started.append(devdb.stop)
    if not os.environ.get("REDIS_URL") and devredis.start():
        _started.append(devredis.stop)


def pytest_unconfigure(config) -> None:
    while _started:
        _started.pop()()


@pytest.fixture
def redis_url() -> str:
    """The Redis the tests' Celery worker processes use as their broker."""
    return settings.REDIS_URL


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters, spent wallet nonces, session-tracking marks and export locks
    never leak from one test to the next."""
    clear_test_cache()
    yield
    clear_test_cache()
