"""The purge on a real Celery worker, killed mid-purge (SIGKILL of the whole worker):
the next worker finishes it, nothing is left linked to the person, one notice is sent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from accounts.models import ApiKey, User
from logging_prefs.models import Generation
from portal.celery import app
from privacy import tasks
from privacy.actions import do_delete_account
from privacy.models import AuditEvent, DeletionRequest
from tests.conftest import require
from tests.privacy.conftest import make_user, new_key, unique_marker
from tests.privacy.purge_worker_settings import KEY_PREFIX_ENV, isolated_transport_options

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CELERY_BIN = Path(sys.executable).with_name("celery")
GENERATIONS = 20_000
CHUNK_SIZE = 1000  # 20 chunks
CHUNK_PAUSE_SECONDS = 0.3
KILL_AFTER_ROWS = 3 * CHUNK_SIZE
# Longer than any one chunk task (well under a second here), short enough that the
# killed worker's message comes back to the next worker quickly.
VISIBILITY_TIMEOUT_SECONDS = 3
WORKER_READY_TIMEOUT = 60
PURGE_TIMEOUT = 120


def database_url() -> str:
    """The URL of the test database pytest-django created (test_<name>)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


def wait_for(condition, timeout: float, what: str, run: PurgeRun):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{run.logs()}")
        time.sleep(0.05)


class Worker:
    """One `celery worker` process group (main process and its prefork child)."""

    def __init__(self, env: dict[str, str], queue: str, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(CELERY_BIN),
                "-A",
                "portal",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "-Q",
                queue,
                "-n",
                f"{queue}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: the test kills the worker and its pool child together,
            # as a machine or container dying would, and nothing else.
            start_new_session=True,
        )
        self.pid = self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, run: PurgeRun) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            return " ready." in self.log()

        wait_for(ready, WORKER_READY_TIMEOUT, "the worker to be ready", run)

    def sigkill_group(self) -> None:
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        finally:
            self._log.close()


class PurgeRun:
    """A private queue, Redis key space and mail folder for one test, and its workers."""

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.queue = f"portal-test-purge-{self.id}"
        self.key_prefix = f"portal-test-purge-{self.id}:"
        self.redis = redis.Redis.from_url(redis_url)
        self.tmp_path = tmp_path
        self.mail_dir = tmp_path / "mail"
        self.mail_dir.mkdir()
        self.workers: list[Worker] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DJANGO_SETTINGS_MODULE": "tests.privacy.purge_worker_settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "DEBUG": "1",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_SECONDS),
            # django-environ drops the first slash of the path: four slashes for an absolute one.
            "EMAIL_URL": f"filemail:///{self.mail_dir}",
            KEY_PREFIX_ENV: self.key_prefix,
            "PORTAL_TEST_PURGE_CHUNK_SIZE": str(CHUNK_SIZE),
            "PORTAL_TEST_PURGE_CHUNK_PAUSE": str(CHUNK_PAUSE_SECONDS),
            "PYTHONUNBUFFERED": "1",
        }
        # The test process publishes with the workers' transport options (its own
        # settings have no key prefix and a 2 h visibility timeout).
        self.connection = app.connection_for_write(
            transport_options=isolated_transport_options(
                {
                    **app.conf.broker_transport_options,
                    "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
                },
                self.key_prefix,
            )
        )

    def start_worker(self) -> Worker:
        log_path = self.tmp_path / f"worker-{len(self.workers)}.log"
        worker = Worker(self.env, self.queue, log_path)
        self.workers.append(worker)
        worker.wait_ready(self)
        return worker

    def enqueue_purge(self, request_id: int, **kwargs) -> None:
        tasks.purge_deletion_request.apply_async(
            (request_id,), queue=self.queue, connection=self.connection
        )

    def notices(self) -> list[str]:
        return [
            line
            for path in self.mail_dir.iterdir()
            for line in path.read_text().splitlines()
            if line.startswith("Subject: ")
        ]

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log()}" for w in self.workers)

    def close(self) -> None:
        try:
            for worker in self.workers:
                worker.stop()
        finally:
            self.connection.release()
            keys = list(self.redis.scan_iter(match=f"{self.key_prefix}*", count=1000))
            if keys:
                self.redis.delete(*keys)
            self.redis.close()


@pytest.fixture
def purge_run(redis_url, tmp_path, monkeypatch) -> Iterator[PurgeRun]:
    require(
        connection.vendor == "postgresql",
        "the worker process needs the PostgreSQL test database (DATABASE_URL=postgres://...)",
    )
    run = PurgeRun(redis_url, tmp_path)
    # What the test process enqueues goes to the run's private queue and key space.
    monkeypatch.setattr(tasks, "enqueue_purge", run.enqueue_purge)
    try:
        yield run
    finally:
        run.close()


def insert_generations(user: User, api_key: ApiKey, prompt: str) -> None:
    """GENERATIONS rows in one statement, with stored text."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Generation._meta.db_table} (
                gateway_id, user_id, api_key_id, model, provider, app_url, app_title,
                prompt, completion, text_state, prompt_tokens, completion_tokens, cost_usd,
                created_at, received_at, categorised)
            SELECT 'bulk-' || %(tag)s || '-' || i, %(user)s, %(key)s, 'openai/gpt-4o', 'OpenAI',
                   'https://app.example.com/', 'app', %(prompt)s || i, 'completion ' || i,
                   'stored', 10, 20, 0.00012, now() - interval '1 hour', now(), false
            FROM generate_series(1, %(n)s) AS i
            """,  # noqa: S608
            {
                "tag": unique_marker("w"),
                "user": user.pk,
                "key": api_key.pk,
                "prompt": prompt,
                "n": GENERATIONS,
            },
        )


def test_purge_survives_a_killed_worker_and_sends_one_notice(purge_run):
    run = purge_run
    user = make_user()
    user_id = user.pk
    api_key = new_key(user)
    prompt = unique_marker("prompt")
    insert_generations(user, api_key, prompt)
    first = run.start_worker()

    request = do_delete_account(user=user, acting_user=user)

    def anonymised() -> int:
        progress = DeletionRequest.objects.get(pk=request.pk).progress
        return progress.get("anonymised", {}).get("logging_prefs.generation", 0)

    wait_for(lambda: anonymised() >= KILL_AFTER_ROWS, PURGE_TIMEOUT, "the purge to start", run)
    first.sigkill_group()
    killed_at = DeletionRequest.objects.get(pk=request.pk)
    assert killed_at.status == DeletionRequest.Status.RUNNING, "killed too late: purge done"
    assert anonymised() < GENERATIONS
    assert run.notices() == []

    run.start_worker()
    done = wait_for(
        lambda: DeletionRequest.objects.filter(pk=request.pk, notice_sent_at__isnull=False).first(),
        PURGE_TIMEOUT + VISIBILITY_TIMEOUT_SECONDS,
        "the purge to complete on the second worker",
        run,
    )

    assert done.status == DeletionRequest.Status.COMPLETED
    assert done.chunks_done > killed_at.chunks_done
    assert not User.objects.filter(pk=user_id).exists()
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    assert Generation.objects.filter(user_id=user_id).count() == 0
    assert Generation.objects.filter(api_key_id=api_key.pk).count() == 0
    billing = Generation.objects.filter(gateway_id__startswith="bulk-")
    assert billing.count() == GENERATIONS
    assert billing.filter(prompt__isnull=False).count() == 0
    # Every row counted once, though a chunk was cut off by the kill.
    assert done.receipt["kept"][0]["count"] == GENERATIONS
    assert done.receipt["erased"]["text_erased"] == {"logging_prefs.generation": GENERATIONS}
    time.sleep(1)  # a duplicate notice would have had time to arrive
    assert run.notices() == ["Subject: [Portal] Your account has been deleted"]
    assert done.notice_email == ""
    assert AuditEvent.objects.filter(deletion_request=request, action="notice_sent").count() == 1
