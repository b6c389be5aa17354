from __future__ import annotations

import os

import pytest
from django.conf import settings

from portal import devdb, devredis
from privacy import tasks
from tests.helpers.mail import assert_replies_to_support
from tests.helpers.privacy import TaskQueue
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


@pytest.fixture(autouse=True)
def _every_mail_replies_to_support():
    """Every mail any test sends has the support address as its Reply-To: the sender is
    a no-reply address, and a reply must reach someone (portal/contact.py)."""
    yield
    from django.core import mail

    assert_replies_to_support(getattr(mail, "outbox", []))


# The purge task run in-process the way a worker runs it (message by message, each
# re-enqueue captured), for the privacy and support tests.
@pytest.fixture
def task_queue(monkeypatch) -> TaskQueue:
    queue = TaskQueue()

    def enqueue_purge(request_id, *, claim=None, chunk=0, queue_name=None, **kwargs):
        queue.purges.append({"request_id": request_id, "claim": claim, "chunk": chunk})

    monkeypatch.setattr(tasks, "enqueue_purge", enqueue_purge)
    monkeypatch.setattr(tasks, "enqueue_notice", queue.notices.append)
    return queue


@pytest.fixture
def run_purge(task_queue, django_capture_on_commit_callbacks):
    """Deliver every queued purge message until the queue is empty."""

    def run() -> None:
        task_queue.drain(django_capture_on_commit_callbacks)

    return run
