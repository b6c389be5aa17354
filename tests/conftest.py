from __future__ import annotations

import os
import threading

import pytest
from django.conf import settings
from django.core.cache import cache

from portal import devdb, devredis

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
    """The Redis the tests' Celery worker processes use as their broker."""
    return settings.REDIS_URL


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters, spent wallet nonces, session-tracking marks and export locks
    never leak from one test to the next."""
    clear_test_cache()
    yield
    clear_test_cache()


def clear_test_cache() -> None:
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _every_mail_replies_to_support():
    """Every mail any test sends has the support address as its Reply-To: the sender is
    a no-reply address, and a reply must reach someone (portal/contact.py)."""
    yield
    from django.core import mail

    assert_replies_to_support(getattr(mail, "outbox", []))


def assert_replies_to_support(messages) -> None:
    for message in messages:
        assert message.reply_to == [settings.PORTAL_SUPPORT_EMAIL], (
            f"the mail {message.subject!r} to {message.to} has Reply-To {message.reply_to}"
        )
