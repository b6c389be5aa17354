"""Benchmark `purge`: seconds to erase one account's generations by the real task path
(do_delete_account, then a real Celery worker running purge_deletion_request chunk by
chunk until the request is COMPLETED) versus one raw `DELETE ... WHERE user_id = …` on
an identical copy of the table, measured in the same run on the same data. While the
purge runs, another signed-in user's GET /account/privacy/ is timed (`other_p99_ms`).

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.purge

Sizes (env): BENCH_PURGE_ROWS (default 1,000,000) generations of the deleted account
among BENCH_PURGE_TOTAL (default 3,000,000), 1 KB of prompt+completion text each; the
other rows belong to BENCH_PURGE_OTHER_USERS (default 9) other accounts.

How it is fair and what it leaves behind:
- Everything runs in a scratch database `bench_purge_<random>` created next to
  DATABASE_URL's, migrated, and dropped at the end (the audit trail is append-only, so
  this is the only way to leave nothing behind); the Redis keys of the run (a private
  queue, the cache key prefix) are deleted at the end.
- The deleted account's rows are interleaved with the others' (every third row), as
  arrival order would mix them; the table is loaded with INSERT ... SELECT
  generate_series and its secondary indexes built after the load.
- The baseline table is `CREATE TABLE … (LIKE logging_prefs_generation)` filled with
  INSERT … SELECT * from the real table (same rows, same physical order) and given the
  same ten indexes; both tables are VACUUM ANALYZEd. Both fit in the OS page cache
  (shared_buffers is small, so both sides read through it alike) and a CHECKPOINT
  precedes each timed side, so both start with the same cost of full-page writes.
  The baseline runs first, then its table is dropped, then the purge.
- The worker is `celery -A portal worker` with the project's settings (bench.settings:
  production settings, DEBUG off), concurrency 1, on a private queue. The purge is one
  sequential chain (each chunk's message is published when the previous one commits),
  so a second pool process would only sit idle; one leaves the other core to
  PostgreSQL and the web server.
- Diagnostics: the WAL written by each side is printed; BENCH_PURGE_WAITS=1 also
  samples pg_stat_activity during the purge (what each active backend waits on) and
  prints the slowest probe requests with their time into the purge.
- The probe: a session for another account (created with the test client's
  force_login), GET /account/privacy/ every PROBE_INTERVAL seconds (0.05, or
  BENCH_PROBE_INTERVAL) on one keep-alive connection to gunicorn (2 workers), for the
  whole purge. It runs during the purge only, so it slows the purge side alone, by about
  half a second (bench/README.md, "purge").
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

from bench.harness import (
    BIN,
    ROOT,
    gunicorn,
    load_without_indexes,
    report,
    scratch_database,
    setup_django,
    sql,
)

ROWS = int(os.environ.get("BENCH_PURGE_ROWS", 1_000_000))
TOTAL = int(os.environ.get("BENCH_PURGE_TOTAL", 3_000_000))
OTHER_USERS = int(os.environ.get("BENCH_PURGE_OTHER_USERS", 9))
TEXT = ("The quick brown fox jumps over the lazy dog. " * 12)[:512]
PROBE_INTERVAL = float(os.environ.get("BENCH_PROBE_INTERVAL", 0.05))
PURGE_TIMEOUT = 480
WORKER_READY_TIMEOUT = 60
TABLE = "logging_prefs_generation"
COPY = "bench_purge_copy"

RUN = uuid.uuid4().hex[:10]
QUEUE = f"bench-purge-{RUN}"


def _all_indexes(table: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def load_rows(target_id: int, others: list[tuple[int, int]], target_key: int) -> None:
    """TOTAL rows, ROWS of them the target's (spread evenly), the rest round-robin over
    the other accounts; secondary indexes are dropped for the load and rebuilt after."""
    # Row i is the target's when floor(i * ROWS / TOTAL) steps up at i: ROWS such rows,
    # evenly spread (every third for the defaults).
    count, loaded, rebuilt = load_without_indexes(
        TABLE,
        f"""
        INSERT INTO {TABLE} (
            gateway_id, user_id, api_key_id, model, provider, app_url, app_title,
            prompt, completion, text_state, prompt_tokens, completion_tokens, cost_usd,
            created_at, received_at, categorised)
        SELECT 'bench-' || i,
               CASE WHEN t THEN %(target)s ELSE (%(users)s::bigint[])[1 + i %% %(n)s] END,
               CASE WHEN t THEN %(target_key)s ELSE (%(keys)s::bigint[])[1 + i %% %(n)s] END,
               'openai/gpt-4o', 'OpenAI', 'https://bench.example.com/app', 'Bench',
               %(text)s, %(text)s, 'stored', 120, 130, 0.00125,
               now() - (%(total)s - i) * interval '100 milliseconds', now(), false
        FROM (
            SELECT i,
                   (i::bigint * %(rows)s / %(total)s)
                   > ((i - 1)::bigint * %(rows)s / %(total)s) AS t
            FROM generate_series(1, %(total)s) AS i
        ) AS s
        """,  # noqa: S608
        {
            "target": target_id,
            "target_key": target_key,
            "users": [u for u, _ in others],
            "keys": [k for _, k in others],
            "n": len(others),
            "text": TEXT,
            "rows": ROWS,
            "total": TOTAL,
        },
    )
    print(
        f"loaded {TOTAL:,} rows in {loaded:.1f} s ({TOTAL / loaded:,.0f} rows/s); "
        f"{count} indexes rebuilt in {rebuilt:.1f} s",
        flush=True,
    )


def make_copy() -> None:
    """The baseline's identical copy: same rows in the same order, the same indexes."""
    started = time.perf_counter()
    sql(f"CREATE TABLE {COPY} (LIKE {TABLE} INCLUDING ALL EXCLUDING INDEXES)")
    # A plain sequential scan keeps the physical order (no synchronised scan start).
    sql("SET synchronize_seqscans = off")
    sql(f"INSERT INTO {COPY} SELECT * FROM {TABLE}")  # noqa: S608
    sql("RESET synchronize_seqscans")
    for n, definition in enumerate(_all_indexes(TABLE)):
        sql(
            re.sub(r"INDEX \S+ ON \S+ ", f"INDEX {COPY}_{n} ON public.{COPY} ", definition, count=1)
        )
    print(f"copy built in {time.perf_counter() - started:.1f} s", flush=True)


def table_size(table: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_relation_size(%s)), pg_size_pretty(pg_indexes_size(%s))",
            [table, table],
        )
        heap, indexes = cursor.fetchone()
    return f"{table}: heap {heap}, indexes {indexes}"


class Worker:
    """One `celery -A portal worker` (prefork, concurrency 1) on the run's queue."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="bench.settings",
            EMAIL_URL="consolemail://",
            PYTHONUNBUFFERED="1",
        )
        self.process = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "portal",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "-Q",
                QUEUE,
                "-n",
                f"{QUEUE}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while " ready." not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def task_seconds(self) -> list[float]:
        """Run times of purge_deletion_request tasks, from the worker's INFO log."""
        return [
            float(m)
            for m in re.findall(
                r"privacy\.tasks\.purge_deletion_request\[[^\]]+\] succeeded in ([\d.]+)s",
                self.log(),
            )
        ]

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        finally:
            self._log.close()


class WaitSampler(threading.Thread):
    """Diagnostics (BENCH_PURGE_WAITS=1): sample pg_stat_activity every few ms during
    the purge and count what each active backend of the run's database was doing."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.counts: Counter = Counter()
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            while not self.done.is_set():
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, ''), "
                    "left(regexp_replace(query, '\\s+', ' ', 'g'), 60) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'active' AND pid <> pg_backend_pid()"
                ).fetchall()
                for row in rows:
                    self.counts[row] += 1
                self.done.wait(0.005)

    def report(self) -> None:
        print("pg_stat_activity samples (wait type, event, query):", flush=True)
        for (kind, event, query), n in self.counts.most_common(25):
            print(f"  {n:6d}  {kind:10s} {event:22s} {query}", flush=True)


class Probe(threading.Thread):
    """GET /account/privacy/ as a signed-in user every PROBE_INTERVAL s, timing each."""

    def __init__(self, base: str, session_cookie: str) -> None:
        super().__init__(daemon=True)
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.headers = {"Cookie": session_cookie, "Host": "127.0.0.1"}
        self.latencies_ms: list[float] = []
        self.started: list[float] = []
        self.failures: list[str] = []
        self.done = threading.Event()

    def get(self, conn: http.client.HTTPConnection) -> float:
        started = time.perf_counter()
        conn.request("GET", "/account/privacy/", headers=self.headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or b"Privacy" not in body:
            self.failures.append(f"{response.status} {response.getheader('Location')}")
        return elapsed

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            while not self.done.is_set():
                started = time.perf_counter()
                self.latencies_ms.append(self.get(conn))
                self.started.append(started)
                self.done.wait(max(0.0, PROBE_INTERVAL - (time.perf_counter() - started)))
        finally:
            conn.close()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")


def wal_lsn() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


def run_baseline(target_id: int) -> float:
    sql("CHECKPOINT")
    wal = wal_lsn()
    seconds = sql(f"DELETE FROM {COPY} WHERE user_id = %s", [target_id])  # noqa: S608
    print(
        f"baseline: DELETE of {ROWS:,} rows in {seconds:.2f} s, "
        f"{(wal_lsn() - wal) / 2**20:,.0f} MB of WAL",
        flush=True,
    )
    sql(f"DROP TABLE {COPY}")
    return seconds


def explain_chunk_select(target_id: int) -> None:
    """The plan of the chunk's row selection, as the purge will run it (no ANALYZE): the
    first part of the chunk's one statement (privacy.deletion.archive.archive_chunk)."""
    from django.db import connection
    from django.db.models import BooleanField, Case, Q, Value, When

    from logging_prefs.models import Generation
    from privacy import registry
    from privacy.deletion.purge import PURGE_CHUNK_SIZE

    # As privacy.deletion.purge._erase selects a chunk: ids, and whether each still holds text.
    has_text = Case(
        When(Q(text_state="stored"), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    pks = (
        Generation.objects.filter(user=target_id)
        .order_by(*next(e for e in registry.entries() if e.model is Generation).chunk_order)
        .annotate(_has_text=has_text)
        .values_list("pk", "_has_text")
    )
    query_sql, params = pks[:PURGE_CHUNK_SIZE].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + query_sql, params)
        plan = "\n    ".join(row[0] for row in cursor.fetchall())
    print(f"chunk selection plan:\n    {plan}", flush=True)


def run_purge(target, other, worker: Worker, base: str) -> tuple[float, Probe]:
    from django.test import Client
    from django.utils import timezone

    from privacy import tasks
    from privacy.deletion import purge
    from privacy.deletion.account import do_delete_account
    from privacy.models import DeletionRequest

    client = Client()
    client.force_login(other)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    warm = Probe(base, cookie)
    conn = http.client.HTTPConnection(warm.host, warm.port, timeout=30)
    for _ in range(20):  # first requests of each gunicorn worker import and connect
        warm.get(conn)
    idle = [warm.get(conn) for _ in range(100)]
    conn.close()
    if warm.failures:
        raise SystemExit(f"/account/privacy/ as the other user failed: {warm.failures[:3]}")
    print(
        f"other user's /account/privacy/ idle: median {statistics.median(idle):.1f} ms, "
        f"p99 {p99(idle):.1f} ms",
        flush=True,
    )

    # The purge messages go to this run's queue (the worker re-enqueues each next chunk
    # onto the queue its message came from).
    publish = tasks.enqueue_purge
    tasks.enqueue_purge = lambda request_id, **kw: publish(request_id, **{**kw, "queue": QUEUE})

    sql("CHECKPOINT")
    sampler = WaitSampler() if os.environ.get("BENCH_PURGE_WAITS") else None
    if sampler is not None:
        sampler.start()
    probe = Probe(base, cookie)
    probe.start()
    wal = wal_lsn()
    request = do_delete_account(user=target, acting_user=target)
    committed = timezone.now()
    started = time.perf_counter()
    last_print = started
    while True:
        time.sleep(0.2)
        state = DeletionRequest.objects.values("status", "chunks_done", "progress", "completed_at")
        state = state.get(pk=request.pk)
        now = time.perf_counter()
        if state["status"] == DeletionRequest.Status.COMPLETED:
            break
        if now - last_print >= 10:
            done = state["progress"].get("archived", {}).get("logging_prefs.generation", 0)
            print(
                f"  {now - started:5.0f} s: {state['status']}, {state['chunks_done']} chunks, "
                f"{done:,} rows ({done / (now - started):,.0f} rows/s)",
                flush=True,
            )
            last_print = now
        if now - started > PURGE_TIMEOUT or worker.process.poll() is not None:
            probe.done.set()
            raise SystemExit(
                f"purge not completed after {now - started:.0f} s ({state['status']}, "
                f"{state['chunks_done']} chunks)\n{worker.log()[-3000:]}"
            )
    probe.done.set()
    probe.join()
    if sampler is not None:
        sampler.done.set()
        sampler.join()
        sampler.report()
    seconds = (state["completed_at"] - committed).total_seconds()
    print(f"purge WAL: {(wal_lsn() - wal) / 2**20:,.0f} MB", flush=True)
    done = state["progress"]["archived"]["logging_prefs.generation"]
    chunks = state["chunks_done"]
    runs = worker.task_seconds()
    busy = sum(runs)
    print(
        f"project: {done:,} rows in {seconds:.2f} s ({done / seconds:,.0f} rows/s), "
        f"{chunks} chunks of {purge.PURGE_CHUNK_SIZE}; task time: sum {busy:.1f} s, "
        f"median {statistics.median(runs) * 1000:.0f} ms, max {max(runs) * 1000:.0f} ms; "
        f"between tasks (broker, worker): {seconds - busy:.1f} s",
        flush=True,
    )
    if runs:
        slowest = sorted(range(len(runs)), key=runs.__getitem__, reverse=True)[:3]
        print(
            "  slowest tasks: "
            + ", ".join(f"#{i + 1} of {len(runs)}: {runs[i] * 1000:.0f} ms" for i in slowest),
            flush=True,
        )
        tenth = max(1, len(runs) // 10)
        print(
            f"  task time, first {tenth} chunks: median "
            f"{statistics.median(runs[:tenth]) * 1000:.0f} ms; last {tenth}: "
            f"{statistics.median(runs[-tenth:]) * 1000:.0f} ms",
            flush=True,
        )
    if sampler is not None:
        slow = sorted(zip(probe.latencies_ms, probe.started, strict=False), reverse=True)[:10]
        print(
            "  slowest probe requests (ms @ s after start): "
            + ", ".join(f"{ms:.0f} @ {at - started:.1f}" for ms, at in slow),
            flush=True,
        )
    if probe.failures:
        raise SystemExit(f"the probe failed during the purge: {probe.failures[:3]}")
    print(
        f"other user's /account/privacy/ during the purge: {len(probe.latencies_ms)} requests, "
        f"median {statistics.median(probe.latencies_ms):.1f} ms, "
        f"p99 {p99(probe.latencies_ms):.1f} ms, max {max(probe.latencies_ms):.1f} ms",
        flush=True,
    )
    return seconds, probe


def check_result(target_id: int) -> None:
    """The purge completed: no generation left linked to the account, the others' rows
    all there, and the billing ledger's totals counting each deleted generation once."""
    from django.db.models import Count, Sum

    from logging_prefs.models import BillingDailyTotal, Generation

    left = Generation.objects.filter(user_id=target_id).count()
    others = Generation.objects.count()
    ledger = BillingDailyTotal.objects.aggregate(rows=Count("id"), generations=Sum("generations"))
    if left or others != TOTAL - ROWS or ledger["generations"] != ROWS:
        raise SystemExit(
            f"purge incomplete: {left} rows still linked, {others} other rows "
            f"(expected {TOTAL - ROWS:,}), {ledger['generations']} generations in the "
            f"billing totals (expected {ROWS:,})"
        )
    print(
        f"checked: 0 rows linked, {others:,} other rows, {ledger['generations']:,} "
        f"generations in {ledger['rows']:,} billing totals"
    )


def clean_redis() -> None:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        keys = list(client.scan_iter(match=f"*{RUN}*", count=1000))
        if keys:
            client.delete(*keys)
        # kombu's binding sets (remote control) hold a member naming the worker.
        for key in client.scan_iter(match="_kombu.binding.*", count=1000):
            if client.type(key) == b"set":
                stale = [m for m in client.smembers(key) if RUN.encode() in m]
                if stale:
                    client.srem(key, *stale)
    finally:
        client.close()


def main() -> None:
    if ROWS > TOTAL:
        raise SystemExit("BENCH_PURGE_ROWS must not exceed BENCH_PURGE_TOTAL")
    # The run's cache keys (sessions) under a prefix of their own, deleted at the end.
    os.environ["CACHE_KEY_PREFIX"] = f"bench-purge-{RUN}"
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("benchmarks run against PostgreSQL: set DATABASE_URL")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("the purge benchmark needs a broker: set REDIS_URL")
    bench_started = time.perf_counter()
    try:
        with scratch_database(f"bench_purge_{RUN}") as name, tempfile.TemporaryDirectory() as tmp:
            setup_django()
            from django.core.management import call_command

            from accounts.actions import do_create_api_key
            from accounts.models import User

            started = time.perf_counter()
            call_command("migrate", verbosity=0)
            print(f"scratch database {name} migrated in {time.perf_counter() - started:.1f} s")

            target = User.objects.create_user(f"bench-target-{RUN}@bench.invalid")
            target_key, _ = do_create_api_key(user=target, acting_user=target, name="bench")
            others = []
            for n in range(OTHER_USERS):
                user = User.objects.create_user(f"bench-other-{n}-{RUN}@bench.invalid")
                key, _ = do_create_api_key(user=user, acting_user=user, name="bench")
                others.append((user, key))
            load_rows(target.pk, [(u.pk, k.pk) for u, k in others], target_key.pk)
            make_copy()
            started = time.perf_counter()
            sql(f"VACUUM (ANALYZE) {TABLE}")
            sql(f"VACUUM (ANALYZE) {COPY}")
            print(f"vacuum analyze of both in {time.perf_counter() - started:.1f} s")
            print(table_size(TABLE))
            print(table_size(COPY), flush=True)
            explain_chunk_select(target.pk)

            baseline = run_baseline(target.pk)

            worker = Worker(Path(tmp) / "worker.log")
            try:
                with gunicorn(workers=2) as base:
                    worker.wait_ready()
                    project, probe = run_purge(target, others[0][0], worker, base)
            finally:
                worker.stop()
            check_result(target.pk)
            other_p99 = p99(probe.latencies_ms)
    finally:
        clean_redis()
    print(f"whole run: {time.perf_counter() - bench_started:.0f} s", flush=True)
    report(
        "purge",
        project,
        baseline,
        "s",
        other_p99_ms=round(other_p99, 1),
        rows=ROWS,
        total_rows=TOTAL,
    )


if __name__ == "__main__":
    main()
