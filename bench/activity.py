"""Benchmark `activity`: GET /account/activity/ (the last 30 days' totals, the two
charts, the breakdowns and the newest 50 requests) as one signed-in person with
1,000,000 requests among 3,000,000, versus the trivial view on the same gunicorn, the
same GET with the same session cookie, requests/s; and the page's p99. Goal: p99 under
50 ms.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.activity

Sizes (env): BENCH_ACTIVITY_ROWS (default 1,000,000) requests of the person among
BENCH_ACTIVITY_TOTAL (default 3,000,000); the others belong to 9 other accounts.
BENCH_ACTIVITY_CONNECTIONS (default 2) concurrent clients.

How it is fair and what it leaves behind:
- A scratch database `bench_activity_<random>` created next to DATABASE_URL's, migrated,
  and dropped at the end; the run's cache keys (the session) are under a prefix of their
  own and deleted at the end.
- The rows are loaded with one INSERT ... SELECT generate_series, the secondary indexes
  dropped for the load and rebuilt after: the person's rows interleaved with the
  others' (every third), over the last 365 days, across 3 keys, 5 models (with their
  providers) and 4 apps. No prompt or completion text (the page never reads it; the
  table is a third of the size and loads in a minute). The usage summary is then added
  up from the rows with one INSERT ... SELECT ... GROUP BY, what ingestion keeps batch
  by batch (tests/logging_prefs/test_usage.py proves the two agree). VACUUM ANALYZE.
- Both sides get the same request with the same session cookie, through the same
  middleware, from 2 clients: one person's page views, one per core of the 2-core
  machines the goal is set for. The goal is a latency, and with more clients than cores
  a request's latency is mostly its wait for a core (Little's law: 32 clients at 300
  pages/s wait 107 ms on average, whatever the page).
"""

from __future__ import annotations

import os
import time
import urllib.request
import uuid

from bench.harness import (
    gunicorn,
    load_without_indexes,
    report_against_trivial_view,
    scratch_database,
    setup_django,
    sql,
)

ROWS = int(os.environ.get("BENCH_ACTIVITY_ROWS", 1_000_000))
TOTAL = int(os.environ.get("BENCH_ACTIVITY_TOTAL", 3_000_000))
CONNECTIONS = int(os.environ.get("BENCH_ACTIVITY_CONNECTIONS", 2))
OTHER_USERS = 9
TABLE = "logging_prefs_generation"
RUN = uuid.uuid4().hex[:10]
PAGE = "/account/activity/"

MODELS = [
    ("openai/gpt-4o", "OpenAI"),
    ("openai/gpt-4o-mini", "Azure"),
    ("anthropic/claude-sonnet-4", "Anthropic"),
    ("google/gemini-2.5-pro", "Google"),
    ("mistral/large", "Mistral"),
]
APPS = [
    ("https://chat.example.com/", "Example Chat"),
    ("https://notes.example.net/", "Notes"),
    ("https://writer.example.org/app", "Writer"),
    ("", ""),
]


def load_rows(target: int, target_keys: list[int], others: list[tuple[int, int]]) -> None:
    # Row i is the person's when floor(i * ROWS / TOTAL) steps up at i (every third
    # row for the defaults); the rows spread evenly over the last 365 days.
    count, loaded, rebuilt = load_without_indexes(
        TABLE,
        f"""
        INSERT INTO {TABLE} (
            gateway_id, user_id, api_key_id, model, provider, app_url, app_title,
            prompt, completion, text_state, prompt_tokens, completion_tokens, cost_usd,
            created_at, received_at, categorised)
        SELECT 'bench-' || i,
               CASE WHEN t THEN %(target)s ELSE (%(users)s::bigint[])[1 + i %% %(n)s] END,
               CASE WHEN t THEN (%(target_keys)s::bigint[])[1 + i %% 3]
                    ELSE (%(keys)s::bigint[])[1 + i %% %(n)s] END,
               (%(models)s::text[])[1 + i %% 5], (%(providers)s::text[])[1 + i %% 5],
               (%(app_urls)s::text[])[1 + i %% 4], (%(app_titles)s::text[])[1 + i %% 4],
               NULL, NULL, 'not_logged', 100 + i %% 400, 50 + i %% 300,
               0.00001 * (1 + i %% 97),
               now() - (%(total)s - i) * (interval '365 days' / %(total)s), now(), false
        FROM (
            SELECT i,
                   (i::bigint * %(rows)s / %(total)s)
                   > ((i - 1)::bigint * %(rows)s / %(total)s) AS t
            FROM generate_series(1, %(total)s) AS i
        ) AS s
        """,  # noqa: S608
        {
            "target": target,
            "target_keys": target_keys,
            "users": [u for u, _ in others],
            "keys": [k for _, k in others],
            "n": len(others),
            "models": [m for m, _ in MODELS],
            "providers": [p for _, p in MODELS],
            "app_urls": [u for u, _ in APPS],
            "app_titles": [t for _, t in APPS],
            "rows": ROWS,
            "total": TOTAL,
        },
    )
    # What ingestion would have kept, batch by batch (the migration's backfill).
    summed = sql(
        """
        INSERT INTO logging_prefs_usagedailytotal
            (user_id, api_key_id, day, model, provider, app_url, app_title,
             generations, prompt_tokens, completion_tokens, cost_usd)
        SELECT user_id, api_key_id, (created_at AT TIME ZONE 'UTC')::date, model, provider,
               app_url, app_title, count(*), sum(prompt_tokens), sum(completion_tokens),
               sum(cost_usd)
        FROM logging_prefs_generation
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        """
    )
    vacuumed = sql(f"VACUUM (ANALYZE) {TABLE}")
    vacuumed += sql("VACUUM (ANALYZE) logging_prefs_usagedailytotal")
    print(
        f"loaded {TOTAL:,} rows in {loaded:.1f} s; {count} indexes rebuilt in "
        f"{rebuilt:.1f} s; usage summary in {summed:.1f} s; vacuum analyze in "
        f"{vacuumed:.1f} s",
        flush=True,
    )


def summary_rows(user_id: int) -> tuple[int, int]:
    from logging_prefs.models import UsageDailyTotal

    everyone = UsageDailyTotal.objects.count()
    return everyone, UsageDailyTotal.objects.filter(user_id=user_id).count()


def cleanup_cache() -> None:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        keys = list(client.scan_iter(match=f"*{RUN}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def main() -> None:
    if ROWS > TOTAL:
        raise SystemExit("BENCH_ACTIVITY_ROWS must not exceed BENCH_ACTIVITY_TOTAL")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("the activity benchmark keeps its session in Redis: set REDIS_URL")
    os.environ["CACHE_KEY_PREFIX"] = f"bench-activity-{RUN}"
    try:
        with scratch_database(f"bench_activity_{RUN}") as name:
            setup_django()
            from django.core.management import call_command
            from django.test import Client

            from accounts.actions import do_create_api_key
            from accounts.models import User

            started = time.perf_counter()
            call_command("migrate", verbosity=0)
            print(f"scratch database {name} migrated in {time.perf_counter() - started:.1f} s")
            target = User.objects.create_user(f"bench-target-{RUN}@bench.invalid")
            target_keys = [
                do_create_api_key(user=target, acting_user=target, name=f"key {n}")[0].pk
                for n in range(3)
            ]
            others = []
            for n in range(OTHER_USERS):
                user = User.objects.create_user(f"bench-other-{n}-{RUN}@bench.invalid")
                key, _ = do_create_api_key(user=user, acting_user=user, name="bench")
                others.append((user.pk, key.pk))
            load_rows(target.pk, target_keys, others)
            everyone, mine = summary_rows(target.pk)
            print(f"usage summary: {everyone:,} rows, {mine:,} of them the person's", flush=True)

            client = Client()
            client.force_login(target)
            headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
            with gunicorn() as base:
                request = urllib.request.Request(base + PAGE, headers=headers)
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    page = response.read().decode()
                if "Usage: Last 30 days" not in page or page.count("<svg") != 2:
                    raise SystemExit("the activity page did not show the totals and charts")
                report_against_trivial_view(
                    "activity",
                    base,
                    PAGE,
                    None,
                    headers=headers,
                    connections=CONNECTIONS,
                    extra={"connections": CONNECTIONS, "rows": ROWS, "total": TOTAL},
                )
    finally:
        cleanup_cache()


if __name__ == "__main__":
    main()
