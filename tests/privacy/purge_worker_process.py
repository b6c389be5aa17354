"""Helpers of the privacy fault tests that run real workers (tests/worker_process.py):
test_purge_worker.py (a worker SIGKILLed mid-purge) and test_broker_outage.py (the broker
stopped while an account is deleted): the person's many generations, and the notices the
workers mailed."""

from __future__ import annotations

from pathlib import Path

from django.db import connection

from accounts.models import ApiKey, User
from logging_prefs.models import Generation
from tests.privacy.conftest import unique_marker


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
