"""Purges on real Celery workers (tests/worker_process.py), for the fault tests
tests/privacy/test_purge_worker.py (a worker SIGKILLed mid-purge) and
test_broker_outage.py (the broker stopped while an account is deleted) and the support
journey: a run whose workers purge in small, slow chunks, the person's many
generations, and the notices the workers mailed."""

from __future__ import annotations

from pathlib import Path

from django.db import connection

from accounts.models import ApiKey, User
from logging_prefs.models import Generation
from privacy import tasks
from tests.helpers.markers import unique_marker
from tests.worker_process import WorkerRun

# Smaller than production's (privacy.deletion.purge.PURGE_CHUNK_SIZE) so the run has 50 chunks,
# each paused inside its transaction so that the kill usually lands mid-chunk.
CHUNK_SIZE = 2000
CHUNK_PAUSE_SECONDS = 0.1
# Longer than any one chunk task (well under a second here), short enough that the
# killed worker's message comes back to the next worker quickly.
VISIBILITY_TIMEOUT_SECONDS = 3


class PurgeRun(WorkerRun):
    """A run (private queue and Redis key space) whose workers purge in small, slow
    chunks (purge_worker_settings.py) and mail to a folder of the test's."""

    def __init__(self, redis_url: str, tmp_path: Path) -> None:
        self.mail_dir = tmp_path / "mail"
        self.mail_dir.mkdir()
        super().__init__(
            name="purge",
            redis_url=redis_url,
            log_dir=tmp_path,
            visibility_timeout=VISIBILITY_TIMEOUT_SECONDS,
            settings_module="tests.helpers.purge_worker_settings",
            mail_dir=self.mail_dir,
            PORTAL_TEST_PURGE_CHUNK_SIZE=str(CHUNK_SIZE),
            PORTAL_TEST_PURGE_CHUNK_PAUSE=str(CHUNK_PAUSE_SECONDS),
        )

    def enqueue_purge(self, request_id: int, **kwargs) -> None:
        self.enqueue(tasks.purge_deletion_request, request_id)

    def notices(self) -> list[str]:
        return mailed_subjects(self.mail_dir)


def mailed_subjects(mail_dir: Path) -> list[str]:
    """The Subject line of every mail the worker wrote to `mail_dir` (filemail)."""
    return [
        line
        for path in sorted(mail_dir.iterdir())
        for line in path.read_text().splitlines()
        if line.startswith("Subject: ")
    ]


def insert_generations(user: User, api_key: ApiKey, prompt: str, count: int) -> None:
    """`count` generations with stored text, in one INSERT ... SELECT statement.

    Writes the rows itself: a hundred thousand through do_ingest_generations
    (tests/factories/logging_prefs.py) would take the test minutes.
    """
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
