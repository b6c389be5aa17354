from __future__ import annotations

import os
import threading

import pytest
from django.conf import settings
from django.core.cache import cache

from portal import devdb

# Whether this pytest run started the private PostgreSQL server (then it stops it).
_started_database = False


def pytest_configure(config) -> None:
    """Without DATABASE_URL the tests run on the private PostgreSQL server under var/
    (portal/devdb.py), as `make run` does: started here unless it runs already."""
    global _started_database
    if not os.environ.get("DATABASE_URL"):
        _started_database = devdb.start()


def pytest_unconfigure(config) -> None:
    if _started_database:
        devdb.stop()


def services_required() -> bool:
    """In CI every test must run: a missing service is a failure, never a skip."""
    return bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if services_required():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def run_together(threads: list[threading.Thread], *, timeout: float, what: str) -> None:
    """Start `threads`, wait for all of them, and fail if one is still running after
    `timeout` seconds (`what` hung)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), f"{what} hung"


@pytest.fixture
def redis_url() -> str:
    require(
        bool(settings.REDIS_URL),
        "needs Redis (REDIS_URL): it runs real Celery worker processes on a Redis broker",
    )
    return settings.REDIS_URL


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters, spent wallet nonces, session-tracking marks and export locks
    never leak from one test to the next."""
    clear_test_cache()
    yield
    clear_test_cache()


def clear_test_cache() -> None:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    if settings.REDIS_URL:
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
