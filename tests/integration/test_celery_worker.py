"""A real Celery worker process, on the real broker (Redis) and the test database.

The worker runs the portal's own Celery app and settings (acks_late, reject_on_worker_lost,
prefetch 1) with a visibility timeout of a few seconds; see worker_settings.py for the two
test-only transport options (a private Redis key space and a fast restore sweep). Every
test gets its own queue and key prefix, so concurrent runs and leftovers never meet.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection, transaction

from portal.celery import app
from tests.conftest import require
from tests.integration import worker_tasks
from tests.integration.worker_settings import KEY_PREFIX_ENV, isolated_transport_options

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
CELERY_BIN = Path(sys.executable).with_name("celery")
# A message unacknowledged for this long goes back to the queue (kombu's Redis transport).
SHORT_VISIBILITY_TIMEOUT = 3
# The production default (portal/settings.py): longer than any test, so within a test
# no redelivery comes from the timeout.
PRODUCTION_VISIBILITY_TIMEOUT = 60 * 60 * 2
WORKER_READY_TIMEOUT = 60
TASK_TIMEOUT = 30
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def parent_pid(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def die_with_parent() -> None:
    """In the forked child, before exec: SIGKILL this process when its parent exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def database_url() -> str:
    """The URL of the test database pytest-django created (test_<name>)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


class Worker:
    """One `celery worker` process group (main process + prefork child), started by a test."""

    def __init__(self, env: dict[str, str], queue: str, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(CELERY_BIN),
                "-A",
                "portal",
                "worker",
                "--include",
                "tests.integration.worker_tasks",
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
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group, so the test can kill the worker and its pool child
            # together (as a machine or container dying would) and nothing else.
            start_new_session=True,
            # If pytest itself is killed, the worker dies with it (its pool process
            # exits when it loses its parent): no stray worker holds the test database.
            preexec_fn=die_with_parent,
        )
        self.pid = self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            return " ready." in self.log()

        wait_until(ready, WORKER_READY_TIMEOUT, "the worker to be ready")

    def sigkill_group(self) -> None:
        os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Always called: warm shutdown, then SIGKILL whatever is left of the group.

        The group is signalled only while its leader is not yet reaped (at worst a
        zombie), so its id cannot belong to anyone else's processes by then.
        """
        try:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while alive(self.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        finally:
            self._log.close()


class WorkerRun:
    """A private queue and Redis key space for one test, and the workers it starts."""

    def __init__(self, redis_url: str, log_dir: Path, visibility_timeout: int) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.queue = f"portal-test-{self.id}"
        self.key_prefix = f"portal-test-worker-{self.id}:"
        self.redis = redis.Redis.from_url(redis_url)
        self.log_dir = log_dir
        self.workers: list[Worker] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "DEBUG": "1",
            "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
            KEY_PREFIX_ENV: self.key_prefix,
            "PYTHONUNBUFFERED": "1",
        }
        # Publishing side: the test process read its settings at import (visibility
        # timeout 2 h, no prefix), so it publishes through a connection with the
        # worker's transport options instead of the app's default pool.
        self.connection = app.connection_for_write(
            transport_options=isolated_transport_options(
                {
                    **app.conf.broker_transport_options,
                    "visibility_timeout": visibility_timeout,
                },
                self.key_prefix,
            )
        )

    def key(self, name: str) -> str:
        return f"{self.key_prefix}test:{name}"

    def start_worker(self) -> Worker:
        worker = Worker(self.env, self.queue, self.log_dir / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def enqueue(self, task, *args) -> None:
        task.apply_async(args, queue=self.queue, connection=self.connection)

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

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log()}" for w in self.workers)


@pytest.fixture
def worker_run_factory(redis_url, tmp_path) -> Iterator[Callable[..., WorkerRun]]:
    require(
        connection.vendor == "postgresql",
        "the worker process needs the PostgreSQL test database (DATABASE_URL=postgres://...)",
    )
    runs: list[WorkerRun] = []

    def make(visibility_timeout: int) -> WorkerRun:
        runs.append(WorkerRun(redis_url, tmp_path, visibility_timeout))
        return runs[-1]

    try:
        yield make
    finally:
        for run in runs:
            run.close()


@pytest.fixture
def worker_run(worker_run_factory) -> WorkerRun:
    return worker_run_factory(PRODUCTION_VISIBILITY_TIMEOUT)


@pytest.fixture
def published() -> Iterator[list[dict]]:
    """Every task message the test process publishes, with whether a transaction was open."""
    messages: list[dict] = []

    def receiver(sender=None, headers=None, **kwargs):
        messages.append(
            {"task": sender, "id": headers["id"], "in_atomic_block": connection.in_atomic_block}
        )

    before_task_publish.connect(receiver, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(receiver)


def test_task_enqueued_on_commit_runs_after_the_commit_and_sees_the_committed_row(
    worker_run, published
):
    worker_run.start_worker()
    result_key = worker_run.key("seen")
    name = f"on-commit-{worker_run.id}"

    with transaction.atomic():
        group = Group.objects.create(name=name)
        transaction.on_commit(
            lambda: worker_run.enqueue(worker_tasks.record_group_seen, group.pk, result_key)
        )
        assert published == [], "the task was published before the transaction committed"

    assert [m["task"] for m in published] == [worker_tasks.record_group_seen.name]
    assert published[0]["in_atomic_block"] is False
    raw = wait_until(lambda: worker_run.redis.get(result_key), TASK_TIMEOUT, "the task to run")
    seen = json.loads(raw)
    # The worker reads through its own database connection: it finds the row only
    # because the transaction had committed when the message was published.
    assert seen["name"] == name, worker_run.logs()
    assert seen["pid"] != os.getpid()


def test_task_enqueued_on_commit_never_runs_when_the_transaction_rolls_back(worker_run, published):
    worker_run.start_worker()
    rolled_back_key = worker_run.key("rolled-back")
    barrier_key = worker_run.key("barrier")

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        group = Group.objects.create(name=f"rolled-back-{worker_run.id}")
        transaction.on_commit(
            lambda: worker_run.enqueue(worker_tasks.record_group_seen, group.pk, rolled_back_key)
        )
        raise Rollback

    assert published == []
    assert not Group.objects.filter(name=f"rolled-back-{worker_run.id}").exists()
    # A barrier on the same queue: one worker process takes messages in order, one at a
    # time, so once the barrier ran, anything published before it has run too.
    worker_run.enqueue(worker_tasks.record_ran, barrier_key)
    wait_until(lambda: worker_run.redis.get(barrier_key), TASK_TIMEOUT, "the barrier task")
    assert worker_run.redis.get(rolled_back_key) is None
    assert [m["task"] for m in published] == [worker_tasks.record_ran.name]


def starts(run: WorkerRun, run_key: str) -> list[dict]:
    return [json.loads(raw) for raw in run.redis.lrange(f"{run_key}:started", 0, -1)]


def started_pids(run: WorkerRun, run_key: str) -> list[int]:
    return [start["pid"] for start in starts(run, run_key)]


def done_pids(run: WorkerRun, run_key: str) -> list[int]:
    return [int(pid) for pid in run.redis.lrange(f"{run_key}:done", 0, -1)]


def test_task_whose_pool_process_is_sigkilled_mid_run_is_requeued_and_completes_in_a_new_process(
    worker_run,
):
    """reject_on_worker_lost: the worker's main process puts the message back at once.

    With the production visibility timeout (2 h), the timeout sweep cannot be what
    brings the message back within this test.
    """
    worker = worker_run.start_worker()
    run_key = worker_run.key("child-killed")
    worker_run.enqueue(worker_tasks.wait_for_release, run_key)

    first = wait_until(lambda: started_pids(worker_run, run_key), TASK_TIMEOUT, "the task start")
    (first_pid,) = first
    assert parent_pid(first_pid) == worker.pid, "the task did not run in the worker's pool"
    os.kill(first_pid, signal.SIGKILL)
    wait_until(lambda: not alive(first_pid), 10, "the pool process to die")
    worker_run.redis.set(f"{run_key}:release", "1", ex=600)

    done = wait_until(
        lambda: done_pids(worker_run, run_key), TASK_TIMEOUT, "the redelivered task to finish"
    )
    started = started_pids(worker_run, run_key)
    assert len(started) == 2, worker_run.logs()
    assert started[0] == first_pid
    assert done == [started[1]]
    assert started[1] != first_pid
    assert parent_pid(started[1]) == worker.pid  # a new pool process of the same worker
    assert worker.process.poll() is None


def test_task_whose_whole_worker_is_sigkilled_mid_run_is_redelivered_to_a_new_worker(
    worker_run_factory,
):
    """Nothing of the first worker survives to put the message back: the next worker
    restores it from the broker's unacknowledged set once the visibility timeout passed."""
    worker_run = worker_run_factory(SHORT_VISIBILITY_TIMEOUT)
    first_worker = worker_run.start_worker()
    run_key = worker_run.key("worker-killed")
    worker_run.enqueue(worker_tasks.wait_for_release, run_key)

    (first_pid,) = wait_until(
        lambda: started_pids(worker_run, run_key), TASK_TIMEOUT, "the task start"
    )
    assert parent_pid(first_pid) == first_worker.pid
    first_worker.sigkill_group()
    wait_until(lambda: not alive(first_pid), 10, "the pool process to die")

    # The message is held only in kombu's unacknowledged hash, not back in the queue.
    unacked = worker_run.redis.zrange(
        f"{worker_run.key_prefix}unacked_index", 0, -1, withscores=True
    )
    assert len(unacked) == 1, unacked
    ((_tag, delivered_at),) = unacked
    assert worker_run.redis.hlen(f"{worker_run.key_prefix}unacked") == 1
    assert worker_run.redis.llen(f"{worker_run.key_prefix}{worker_run.queue}") == 0

    worker_run.redis.set(f"{run_key}:release", "1", ex=600)
    second_worker = worker_run.start_worker()
    done = wait_until(
        lambda: done_pids(worker_run, run_key),
        SHORT_VISIBILITY_TIMEOUT + TASK_TIMEOUT,
        "the redelivered task to finish",
    )
    started = started_pids(worker_run, run_key)
    assert len(started) == 2, worker_run.logs()
    assert started[0] == first_pid
    assert done == [started[1]]
    assert parent_pid(started[1]) == second_worker.pid  # ran in the new worker's pool
    # Restored by the visibility-timeout sweep: not before the timeout had passed.
    assert starts(worker_run, run_key)[1]["at"] >= delivered_at + SHORT_VISIBILITY_TIMEOUT
    assert worker_run.redis.hlen(f"{worker_run.key_prefix}unacked") == 0
