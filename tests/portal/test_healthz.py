"""/healthz: 200 when the database, the cache and the broker answer; 503 naming what failed.

Every failure here is real, not a mocked check: the part under test is pointed at a local
TCP port nothing listens on, so the real client (psycopg, redis-py, kombu) gets
"connection refused", exactly what it gets when the service is down. The machine's shared
PostgreSQL and Redis are never stopped or reconfigured.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from celery import Celery
from django.db import connection

from portal import health


@pytest.fixture
def closed_port() -> int:
    """A local port with no listener: bound once by the OS for us, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts TCP connections (the kernel's backlog) and never answers:
    a hung broker. Closing the socket at the end resets whatever is still waiting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def broker_at(port: int) -> Celery:
    # The check runs against the portal's Celery app. Rather than reconfigure that shared
    # app (the rest of the test process publishes through it), the check gets an app of
    # its own, configured like the portal's but with its broker at `port`: the real
    # kombu Redis transport then connects there, as it would to a Redis that is down.
    broken = Celery("healthz-broken-broker", set_as_current=False)
    broken.conf.update(
        broker_url=f"redis://127.0.0.1:{port}/0",
        broker_transport_options=health.app.conf.broker_transport_options,
    )
    return broken


def healthz(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


@pytest.mark.django_db
def test_healthz_is_200_with_every_part_true_when_all_services_answer(client):
    status, body = healthz(client)
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {"database": True, "cache": True, "broker": True},
        "failing": [],
    }


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_the_broker_is_down(client, closed_port, monkeypatch):
    monkeypatch.setattr(health, "app", broker_at(closed_port))

    status, body = healthz(client)

    assert status == 503
    assert body == {
        "status": "failing",
        "checks": {"database": True, "cache": True, "broker": False},
        "failing": ["broker"],
    }


class Hung(Exception):
    pass


@pytest.mark.django_db
def test_healthz_answers_503_within_seconds_when_the_broker_accepts_but_never_replies(
    client, silent_port, monkeypatch
):
    """A hung broker must not hang the probe: the load balancer needs an answer."""
    monkeypatch.setattr(health, "app", broker_at(silent_port))

    def interrupt(signum, frame):
        raise Hung  # caught by the check like any failure; the elapsed time tells

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 15)
    started = time.monotonic()
    try:
        status, body = healthz(client)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - started

    assert status == 503
    assert body["failing"] == ["broker"]
    # Connecting and the round trip are each bounded by the check's timeout.
    assert elapsed < 3 * health.BROKER_TIMEOUT_SECONDS, f"took {elapsed:.1f}s"


@pytest.mark.django_db
def test_healthz_is_503_naming_the_cache_when_the_cache_is_down(client, closed_port, settings):
    # The production cache backend (Django's RedisCache), at a closed port. Changing
    # CACHES resets Django's cache handler, so `cache` in portal.health connects there.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "KEY_PREFIX": "healthz-test",
        }
    }

    status, body = healthz(client)

    assert status == 503
    assert body == {
        "status": "failing",
        "checks": {"database": True, "cache": False, "broker": True},
        "failing": ["cache"],
    }


@contextmanager
def database_at(port: int) -> Iterator[None]:
    """Reconnect the default connection to another port, and back afterwards."""
    original = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = port
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original


@pytest.mark.django_db(transaction=True)
def test_healthz_is_503_naming_the_database_when_the_database_is_down(client, closed_port):
    # A real database failure: the connection is closed and reopened against a closed
    # port (psycopg gets "connection refused"). This needs a transactional test: a plain
    # django_db test holds the connection inside a transaction that cannot be closed.
    with database_at(closed_port):
        status, body = healthz(client)

    assert status == 503
    assert body == {
        "status": "failing",
        "checks": {"database": False, "cache": True, "broker": True},
        "failing": ["database"],
    }
    # And back: the same connection answers again once the database is reachable.
    assert healthz(client)[0] == 200


@pytest.mark.django_db
def test_healthz_reports_every_failing_part_when_more_than_one_is_down(
    client, closed_port, monkeypatch
):
    # The checks are independent: one failing does not hide or skip another.
    def refuse():
        raise ConnectionRefusedError

    monkeypatch.setitem(health.CHECKS, "cache", refuse)
    monkeypatch.setitem(health.CHECKS, "broker", refuse)

    status, body = healthz(client)

    assert status == 503
    assert body["failing"] == ["cache", "broker"]
    assert body["checks"] == {"database": True, "cache": False, "broker": False}


def test_healthz_answers_only_get(client):
    assert client.post("/healthz").status_code == 405
