"""What the tests need of the machine: services that must be there in CI, threads run
together, the shared cache cleared."""

from __future__ import annotations

import os
import threading

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


def run_together(threads: list[threading.Thread], *, timeout: float, what: str) -> None:
    """Start `threads`, wait for all of them, and fail if one is still running after
    `timeout` seconds (`what` hung)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), f"{what} hung"


def clear_test_cache() -> None:
    """Delete every key of the test cache's prefix (rate-limit counters, spent wallet
    nonces, session-tracking marks, export locks)."""
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
