"""Real worker processes (and helpers) for the privacy fault tests: test_purge_worker.py
(a worker SIGKILLed mid-purge) and test_broker_outage.py (the broker stopped while an
account is deleted). Each worker reads the pytest test database."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from accounts.models import ApiKey, User
from logging_prefs.models import Generation
from tests.privacy.conftest import unique_marker

CELERY_BIN = Path(sys.executable).with_name("celery")
WORKER_READY_TIMEOUT = 60
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def database_url() -> str:
    """The URL of the test database pytest-django created (test_<name>)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


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


def die_with_parent() -> None:
    """In the forked child, before exec: SIGKILL this process when its parent exits, so
    a killed pytest leaves no worker (or Redis) behind holding the test database."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


class Worker:
    """One `celery worker` process group (main process and its prefork child)."""

    def __init__(self, env: dict[str, str], log_path: Path, queue: str | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        name = queue or "portal-test-worker"
        self.process = subprocess.Popen(
            [
                str(CELERY_BIN),
                "-A",
                "portal",
                "worker",
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
            # Its own process group: the test kills the worker and its pool child together,
            # as a machine or container dying would, and nothing else.
            start_new_session=True,
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
        """Warm shutdown, then SIGKILL whatever is left of the group. The group is
        signalled only while its leader is not yet reaped, so the id is still ours."""
        try:
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=10)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        finally:
            self._log.close()


def worker_env(*, redis_url: str, mail_dir: Path, settings_module: str, **extra: str) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "DEBUG": "1",
        # django-environ drops the first slash of the path: four slashes for an absolute one.
        "EMAIL_URL": f"filemail:///{mail_dir}",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def mailed_subjects(mail_dir: Path) -> list[str]:
    """The Subject line of every mail the worker wrote to `mail_dir` (filemail)."""
    return [
        line
        for path in sorted(mail_dir.iterdir())
        for line in path.read_text().splitlines()
        if line.startswith("Subject: ")
    ]


def insert_generations(user: User, api_key: ApiKey, prompt: str, count: int) -> None:
    """`count` generations with stored text, in one INSERT ... SELECT statement."""
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
                "n": count,
            },
        )
