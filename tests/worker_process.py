"""Real Celery worker processes for the tests that need one (tests/integration,
tests/privacy's fault tests): started on the portal's own app against the pytest test
database, each in its own process group, killed with it, and stopped at the end.

A `WorkerRun` gives one test a private queue and Redis key space (see
tests/worker_settings.py), publishes to them, and removes its keys when it closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings
from django.db import connection

from portal.celery import app
from tests.worker_settings import KEY_PREFIX_ENV, isolated_transport_options

CELERY_BIN = Path(sys.executable).with_name("celery")
WORKER_SETTINGS = "tests.worker_settings"
WORKER_READY_TIMEOUT = 60
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def database_url() -> str:
    """The URL of the test database pytest-django created (test_<name>), on a host or,
    for the private server of a machine without DATABASE_URL (portal/devdb.py), on a
    Unix socket folder (libpq's `?host=/folder`, which django-environ reads too)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = db["HOST"] or db["OPTIONS"].get("host") or "localhost"
    if host.startswith("/"):
        port = f"&port={db['PORT']}" if db["PORT"] else ""
        return f"postgres://{user}{password}@/{db['NAME']}?host={quote(host)}{port}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


def wait_for(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    logs: Callable[[], str] = str,
) -> object:
    """Poll `condition` until it is truthy; fail after `timeout` seconds with the logs."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether `pid` is running: not gone, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        # Gone before the open (ENOENT) or between the open and the read (ESRCH).
        return False
    return state != "Z"


def die_with_parent() -> None:
    """In the forked child, before exec: SIGKILL this process when its parent exits, so
    a killed pytest leaves no worker (or Redis) behind holding the test database."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def worker_env(
    *, redis_url: str, settings_module: str, mail_dir: Path | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a worker on the test database; mail goes to files in
    `mail_dir` when given."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if mail_dir is not None:
        # django-environ drops the first slash of the path: four slashes for an absolute one.
        env["EMAIL_URL"] = f"filemail:///{mail_dir}"
    return {**env, **extra}


class Worker:
    """One `celery worker` process group (main process and its prefork child)."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        queue: str | None = None,
        include: Iterable[str] = (),
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        name = queue or "portal-test-worker"
        self.process = subprocess.Popen(
            [
                str(CELERY_BIN),
                "-A",
                "portal",
                "worker",
                *(["--include", ",".join(include)] if include else []),
                "--pool=prefork",
                "--concurrency=1",
                *(["-Q", queue] if queue else []),
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=settings.BASE_DIR,
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

    def wait_ready(self, logs: Callable[[], str] | None = None) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            return " ready." in self.log()

        wait_for(ready, WORKER_READY_TIMEOUT, "the worker to be ready", logs or self.log)

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
    """A private queue and Redis key space for one test, and the workers it starts.

    The workers read `settings_module` (tests/worker_settings.py or one built on it) with
    the run's key prefix and `visibility_timeout`; `include` names extra task modules.
    """

    def __init__(
        self,
        *,
        name: str,
        redis_url: str,
        log_dir: Path,
        visibility_timeout: int,
        settings_module: str = WORKER_SETTINGS,
        include: Iterable[str] = (),
        mail_dir: Path | None = None,
        **extra_env: str,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.queue = f"portal-test-{name}-{self.id}"
        self.key_prefix = f"{self.queue}:"
        self.redis = redis.Redis.from_url(redis_url)
        self.log_dir = log_dir
        self.include = tuple(include)
        self.workers: list[Worker] = []
        self.env = worker_env(
            redis_url=redis_url,
            settings_module=settings_module,
            mail_dir=mail_dir,
            CELERY_VISIBILITY_TIMEOUT=str(visibility_timeout),
            **{KEY_PREFIX_ENV: self.key_prefix},
            **extra_env,
        )
        # Publishing side: the test process read its settings at import (visibility
        # timeout 2 h, no prefix), so it publishes through a connection with the
        # workers' transport options instead of the app's default pool.
        self.connection = app.connection_for_write(
            transport_options=isolated_transport_options(
                {
                    **app.conf.broker_transport_options,
                    "visibility_timeout": visibility_timeout,
                },
                self.key_prefix,
            )
        )

    def start_worker(self) -> Worker:
        log_path = self.log_dir / f"worker-{len(self.workers)}.log"
        worker = Worker(self.env, log_path, queue=self.queue, include=self.include)
        self.workers.append(worker)
        worker.wait_ready(self.logs)
        return worker

    def enqueue(self, task, *args) -> None:
        task.apply_async(args, queue=self.queue, connection=self.connection)

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
