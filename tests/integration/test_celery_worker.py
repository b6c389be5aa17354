"""A real Celery worker process, on the real broker (Redis) and the test database.

The worker runs the portal's own Celery app and settings (acks_late, reject_on_worker_lost,
prefetch 1) with a visibility timeout of a few seconds; see tests/worker_settings.py for the two
test-only transport options (a private Redis key space and a fast restore sweep), and
tests/worker_process.py for the process handling. Every test gets its own queue and key
prefix, so concurrent runs and leftovers never meet.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.contrib.auth.models import Group
from django.db import connection, transaction

from tests.integration import worker_tasks
from tests.worker_process import WorkerRun, alive, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# A message unacknowledged for this long goes back to the queue (kombu's Redis transport).
SHORT_VISIBILITY_TIMEOUT = 3
# The production default (portal/settings.py): longer than any test, so within a test
# no redelivery comes from the timeout.
PRODUCTION_VISIBILITY_TIMEOUT = 60 * 60 * 2
TASK_TIMEOUT = 30


def parent_pid(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


class IntegrationRun(WorkerRun):
    """A run whose workers also load this module's tasks (worker_tasks.py)."""

    def __init__(self, redis_url: str, log_dir: Path, visibility_timeout: int) -> None:
        super().__init__(
            name="worker",
            redis_url=redis_url,
            log_dir=log_dir,
            visibility_timeout=visibility_timeout,
            include=[worker_tasks.__name__],
        )

    def key(self, name: str) -> str:
        return f"{self.key_prefix}test:{name}"


@pytest.fixture
def worker_run_factory(redis_url, tmp_path) -> Iterator[Callable[..., IntegrationRun]]:
    runs: list[IntegrationRun] = []

    def make(visibility_timeout: int) -> IntegrationRun:
        runs.append(IntegrationRun(redis_url, tmp_path, visibility_timeout))
        return runs[-1]

    try:
        yield make
    finally:
        for run in runs:
            run.close()


@pytest.fixture
def worker_run(worker_run_factory) -> IntegrationRun:
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
    raw = wait_for(lambda: worker_run.redis.get(result_key), TASK_TIMEOUT, "the task to run")
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
    wait_for(lambda: worker_run.redis.get(barrier_key), TASK_TIMEOUT, "the barrier task")
    assert worker_run.redis.get(rolled_back_key) is None
    assert [m["task"] for m in published] == [worker_tasks.record_ran.name]


def starts(run: IntegrationRun, run_key: str) -> list[dict]:
    return [json.loads(raw) for raw in run.redis.lrange(f"{run_key}:started", 0, -1)]


def started_pids(run: IntegrationRun, run_key: str) -> list[int]:
    return [start["pid"] for start in starts(run, run_key)]


def done_pids(run: IntegrationRun, run_key: str) -> list[int]:
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

    first = wait_for(lambda: started_pids(worker_run, run_key), TASK_TIMEOUT, "the task start")
    (first_pid,) = first
    assert parent_pid(first_pid) == worker.pid, "the task did not run in the worker's pool"
    os.kill(first_pid, signal.SIGKILL)
    wait_for(lambda: not alive(first_pid), 10, "the pool process to die")
    worker_run.redis.set(f"{run_key}:release", "1", ex=600)

    done = wait_for(
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

    (first_pid,) = wait_for(
        lambda: started_pids(worker_run, run_key), TASK_TIMEOUT, "the task start"
    )
    assert parent_pid(first_pid) == first_worker.pid
    first_worker.sigkill_group()
    wait_for(lambda: not alive(first_pid), 10, "the pool process to die")

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
    done = wait_for(
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
    # acks_late: the new worker acknowledges only after the task has returned, a moment
    # after the task recorded itself done; then nothing is left unacknowledged.
    wait_for(
        lambda: worker_run.redis.hlen(f"{worker_run.key_prefix}unacked") == 0,
        10,
        "the redelivered message to be acknowledged",
    )


def backends_seen(run: IntegrationRun, result_key: str, count: int) -> list[int]:
    """Run record_database_backend `count` more times, one after the other; every
    backend recorded under `result_key` so far, in order."""
    for _ in range(count):
        done = run.redis.llen(result_key) + 1
        run.enqueue(worker_tasks.record_database_backend, result_key)
        wait_for(
            lambda done=done: run.redis.llen(result_key) >= done, TASK_TIMEOUT, "the task", run.logs
        )
    return [int(pid) for pid in run.redis.lrange(result_key, 0, -1)]


def test_tasks_keep_their_database_connection_from_one_task_to_the_next(worker_run):
    """Celery's Django fixup would close it around every task (a new PostgreSQL backend
    each time, a sixth of a purge chunk); portal/celery.py keeps it, as Django keeps a
    web worker's, until it is broken or older than CONN_MAX_AGE."""
    worker_run.start_worker()
    backends = backends_seen(worker_run, worker_run.key("backends"), 3)
    assert len(set(backends)) == 1, backends


def test_a_task_after_the_database_dropped_the_connection_reconnects_and_runs(worker_run):
    """A kept connection that the server ended (a restart, a failover, an idle timeout)
    is found broken by the health check before the next task's first query, and
    replaced: the task runs, no error."""
    worker_run.start_worker()
    result_key = worker_run.key("backends")
    (first,) = backends_seen(worker_run, result_key, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        assert cursor.fetchone() == (True,)
    backends = backends_seen(worker_run, result_key, 1)
    assert backends[0] == first
    assert backends[1] != first, worker_run.logs()
    assert "Traceback" not in worker_run.logs()
