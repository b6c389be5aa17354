"""Benchmark `ingest`: generations/s posted through the HTTP API (gunicorn, batches of
500, 1 KB of prompt+completion text each) versus PostgreSQL COPY of the same rows into
the same table, measured in the same run.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.ingest
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import queue
import threading
import time
import urllib.parse
import uuid
from decimal import Decimal

from bench.harness import GATEWAY_TOKEN, gunicorn, report, setup_django

ROWS = int(os.environ.get("BENCH_INGEST_ROWS", 200_000))
BATCH = 500
CLIENTS = 4
TEXT = ("The quick brown fox jumps over the lazy dog. " * 12)[:512]


def _records(prefix: str, key_id: int, count: int) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "id": f"{prefix}-{i}",
            "key_id": key_id,
            "model": "openai/gpt-4o",
            "provider": "OpenAI",
            "app_url": "https://bench.example.com/app",
            "app_title": "Bench",
            "prompt": TEXT,
            "completion": TEXT,
            "prompt_tokens": 120,
            "completion_tokens": 130,
            "cost_usd": "0.00125",
            "created_at": (now - dt.timedelta(seconds=i)).isoformat(),
        }
        for i in range(count)
    ]


def _post_all(base: str, bodies: list[bytes]) -> None:
    url = urllib.parse.urlsplit(base)
    work: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        work.put(body)
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {GATEWAY_TOKEN}",
        }
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            conn.request("POST", "/internal/v1/generations", body=body, headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read())
            if response.status != 200 or answer["stored"] != BATCH:
                failures.append(f"{response.status} {str(answer)[:200]}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} batches failed, first: {failures[0]}")


def _copy_rows(user_id: int, key_id: int, records: list[dict]) -> None:
    from django.db import connection

    from logging_prefs.actions import _INSERT_COLUMNS

    now = dt.datetime.now(dt.UTC)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY logging_prefs_generation ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
        ) as copy,
    ):
        for r in records:
            copy.write_row(
                (
                    r["id"],
                    user_id,
                    key_id,
                    r["model"],
                    r["provider"],
                    r["app_url"],
                    r["app_title"],
                    r["prompt"],
                    r["completion"],
                    "stored",
                    r["prompt_tokens"],
                    r["completion_tokens"],
                    Decimal(r["cost_usd"]),
                    r["created_at"],
                    now,
                    False,
                    "ok",
                    "",
                )
            )


def _vacuum() -> None:
    """Clear the dead rows earlier runs (and the COPY side) left, so neither side
    shares the disk with autovacuum or walks their index entries."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM logging_prefs_generation")


def main() -> None:
    setup_django()
    from accounts.actions import do_create_api_key
    from accounts.models import User
    from logging_prefs.models import Generation

    run = uuid.uuid4().hex[:8]
    user = User.objects.create_user(f"bench-{run}@bench.invalid")
    try:
        api_key, _ = do_create_api_key(user=user, acting_user=user, name="bench")

        copy_records = _records(f"bench-copy-{run}", api_key.id, ROWS)
        _vacuum()
        started = time.perf_counter()
        _copy_rows(user.id, api_key.id, copy_records)
        copy_seconds = time.perf_counter() - started
        del copy_records
        Generation.objects.filter(user=user).delete()
        _vacuum()

        records = _records(f"bench-api-{run}", api_key.id, ROWS)
        bodies = [
            json.dumps({"generations": records[i : i + BATCH]}).encode()
            for i in range(0, ROWS, BATCH)
        ]
        del records
        with gunicorn() as base:
            started = time.perf_counter()
            _post_all(base, bodies)
            api_seconds = time.perf_counter() - started
        stored = Generation.objects.filter(user=user, text_state="stored").count()
        if stored != ROWS:
            raise SystemExit(f"expected {ROWS} rows with text, found {stored}")
        print(f"COPY: {ROWS} rows in {copy_seconds:.2f} s; API: {ROWS} rows in {api_seconds:.2f} s")
        report("ingest", ROWS / api_seconds, ROWS / copy_seconds, "rows/s", rows=ROWS)
    finally:
        Generation.objects.filter(user=user).delete()
        user.api_keys.all().delete()
        user.delete()


if __name__ == "__main__":
    main()
