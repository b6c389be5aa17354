"""Test-only tasks, loaded into a real worker with `--include tests.integration.worker_tasks`.

Each task records what it saw in Redis under a key the test chooses, so the test process
can observe the worker without a result backend (the portal ignores task results).
"""

from __future__ import annotations

import json
import os
import time

import redis
from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection

RECORD_TTL_SECONDS = 600
RELEASE_WAIT_SECONDS = 120


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task
def record_group_seen(group_pk: int, result_key: str) -> None:
    """Record whether this worker's own database connection sees the group row."""
    name = Group.objects.filter(pk=group_pk).values_list("name", flat=True).first()
    _redis().set(result_key, json.dumps({"name": name, "pid": os.getpid()}), ex=RECORD_TTL_SECONDS)


@shared_task
def record_ran(result_key: str) -> None:
    _redis().set(result_key, str(os.getpid()), ex=RECORD_TTL_SECONDS)


@shared_task
def wait_for_release(run_key: str) -> None:
    """Record the start, block until the test releases the run, then record the finish.

    The test kills the worker while this task blocks; the run that finishes is the
    redelivered one.
    """
    client = _redis()
    client.rpush(f"{run_key}:started", json.dumps({"pid": os.getpid(), "at": time.time()}))
    client.expire(f"{run_key}:started", RECORD_TTL_SECONDS)
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while not client.exists(f"{run_key}:release"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run_key} was never released")
        time.sleep(0.05)
    client.rpush(f"{run_key}:done", os.getpid())
    client.expire(f"{run_key}:done", RECORD_TTL_SECONDS)


@shared_task
def record_database_backend(result_key: str) -> None:
    """Record which PostgreSQL backend (server process) this task's queries ran on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    _redis().rpush(result_key, backend)
    _redis().expire(result_key, RECORD_TTL_SECONDS)
