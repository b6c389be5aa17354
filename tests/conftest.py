from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache


def services_required() -> bool:
    """In CI every test must run: a missing service is a failure, never a skip."""
    return bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if services_required():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    require(bool(settings.REDIS_URL), "REDIS_URL is not set")
    return settings.REDIS_URL


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and cached decisions never leak from one test to the next."""
    _clear_test_cache()
    yield
    _clear_test_cache()


def _clear_test_cache() -> None:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    if settings.REDIS_URL:
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
