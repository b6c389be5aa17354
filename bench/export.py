"""Benchmark `export`: seconds to produce one account's "Download your data" document
(privacy.export.data_export, the generator the download view streams, consumed in full
and written to /dev/null) versus PostgreSQL `COPY (SELECT …) TO STDOUT` of the same
rows of the same tables (psycopg's cursor.copy, written to /dev/null), measured in the
same run on the same data; `peak_rss_mb` is how far the export makes its process's
resident memory grow.

    DATABASE_URL=postgres://… REDIS_URL=redis://… .venv/bin/python -m bench.export

Sizes (env): BENCH_EXPORT_ROWS (default 100,000) generations of the exported account,
1 KB of prompt+completion text each, interleaved with BENCH_EXPORT_OTHER_ROWS (default
200,000) of 4 other accounts; the account also has 3 API keys, about 40 preference
changes, two email addresses and its preferences row.

How it is fair and what it leaves behind:
- Everything runs in a scratch database `bench_export_<random>` created next to
  DATABASE_URL's, migrated, and dropped at the end, failure or not (as bench/purge.py
  does: the audit trail is append-only). The export takes no lock in the cache, so
  nothing is written to Redis.
- The baseline reads exactly what the export reads: for every entry the export walks
  (privacy.export.export_entries), the same exported columns of the account's rows in
  the same order ((created_at, id) for the generations), one `COPY (SELECT …) TO
  STDOUT` each, in text format. It skips what the export adds: the keyset pages and the
  JSON. Its plan is PostgreSQL's choice for the whole set: for the generations a
  parallel sequential scan and a sort, where each of the export's pages walks the
  index gen_user_created; that plan is the baseline's fastest (bench/README.md,
  "export").
- Each side runs in a fresh Python process (`--side project|baseline`, Django set up
  and connected before the clock starts). One untimed round of each side warms the OS
  page cache and PostgreSQL's buffers, then ROUNDS rounds alternate the two sides; the
  result is each side's median.
- Memory: the child asks the kernel to reset its resident-memory high-water mark
  (writing 5 to /proc/self/clear_refs, Linux 4.0+), reads VmRSS, exports, then reads
  VmHWM: `peak_rss_mb` is the largest VmHWM - VmRSS over the project's rounds, the most
  the export added to a process that was already running Django (a web worker's
  situation). A streaming export keeps it at a few page-sized MB whatever the account's
  size; one that loads everything grows with the document (`document_mb`).
- Checked: the document parses, says "complete", and holds as many rows of each kind
  as the baseline copied (and BENCH_EXPORT_ROWS generations).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

from bench.harness import (
    ROOT,
    load_without_indexes,
    report,
    scratch_database,
    setup_django,
    sql,
)

ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", 100_000))
OTHER_ROWS = int(os.environ.get("BENCH_EXPORT_OTHER_ROWS", 200_000))
OTHER_USERS = 4
ROUNDS = 3
CHILD_TIMEOUT = 240
# Prompt and completion, 512 characters each, a few of them outside ASCII as real text is.
TEXT = ("The quick brown fox jumps over the lazy dog; naïve café, 3 °C. " * 9)[:512]
TABLE = "logging_prefs_generation"

RUN = uuid.uuid4().hex[:10]


# --- The parent: data, rounds, check, report ----------------------------------------


def make_account():
    """The exported account with its keys, preference history and addresses, and the
    other accounts (user id, key id) whose generations share the table."""
    from allauth.account.models import EmailAddress

    from accounts.actions import do_create_api_key
    from accounts.models import User
    from logging_prefs.actions import do_set_logging_preferences

    target = User.objects.create_user(f"bench-export-{RUN}@bench.invalid")
    EmailAddress.objects.create(user=target, email=target.email, primary=True, verified=True)
    EmailAddress.objects.create(user=target, email=f"bench-export-2-{RUN}@bench.invalid")
    keys = [
        do_create_api_key(user=target, acting_user=target, name=name)[0]
        for name in ("laptop", "server", "ci")
    ]
    # Each of four settings switched on and off five times (one switch is no change
    # when the setting's default is on): about 40 rows of history.
    for n in range(40):
        setting = ("log_prompts", "allow_training_paid", "zdr_only", "allow_publication")[n % 4]
        do_set_logging_preferences(
            user=target, acting_user=target, changes={setting: n // 4 % 2 == 0}
        )
    others = []
    for n in range(OTHER_USERS):
        user = User.objects.create_user(f"bench-export-other-{n}-{RUN}@bench.invalid")
        key, _ = do_create_api_key(user=user, acting_user=user, name="bench")
        others.append((user.pk, key.pk))
    return target, [key.pk for key in keys], others


def load_generations(target_id: int, target_keys: list[int], others: list[tuple[int, int]]):
    """ROWS generations of the target (every (ROWS + OTHER_ROWS) / ROWS-th row, as
    arrival order mixes accounts; spread over its three keys) and OTHER_ROWS of the
    others, by INSERT … SELECT generate_series with the secondary indexes rebuilt after."""
    total = ROWS + OTHER_ROWS
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
               (ARRAY['openai/gpt-4o', 'anthropic/claude-sonnet-4', 'google/gemini-2.5-pro'])
                   [1 + i %% 3],
               (ARRAY['OpenAI', 'Anthropic', 'Google'])[1 + i %% 3],
               'https://bench.example.com/app', 'Bench',
               'Prompt ' || i || ': ' || %(text)s, 'Completion ' || i || ': ' || %(text)s,
               'stored', 100 + i %% 400, 50 + i %% 900, (i %% 1000) * 0.0000125,
               now() - (%(total)s - i) * interval '10 seconds', now(), false
        FROM (
            SELECT i,
                   (i::bigint * %(rows)s / %(total)s)
                   > ((i - 1)::bigint * %(rows)s / %(total)s) AS t
            FROM generate_series(1, %(total)s) AS i
        ) AS s
        """,  # noqa: S608
        {
            "target": target_id,
            "target_keys": target_keys,
            "users": [u for u, _ in others],
            "keys": [k for _, k in others],
            "n": len(others),
            "text": TEXT,
            "rows": ROWS,
            "total": total,
        },
    )
    vacuumed = sql(f"VACUUM (ANALYZE) {TABLE}")
    print(
        f"loaded {total:,} generations ({ROWS:,} of the exported account) in {loaded:.1f} s; "
        f"{count} indexes rebuilt and VACUUM ANALYZE in {rebuilt + vacuumed:.1f} s",
        flush=True,
    )


def run_side(side: str, user_id: int, account: str) -> dict:
    """One side in a fresh process; its result is the JSON on its last line."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.export", "--side", side, "--user", str(user_id)]
        + ["--account", account],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"the {side} side failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_document(user_id: int, account: str, copied: dict[str, int]) -> float:
    """The whole document, parsed: complete, and as many rows of each kind as the
    baseline copied. Returns its size in MB."""
    from django.utils import timezone

    from privacy.export import data_export

    body = b"".join(data_export(user_id=user_id, account=account, exported_at=timezone.now()))
    doc = json.loads(body)
    counts = {kind: len(rows) for kind, rows in doc["records"].items()}
    if doc.get("complete") is not True or counts != copied:
        raise SystemExit(f"export and COPY differ: export {counts}, COPY {copied}")
    if counts["logging_prefs.generation"] != ROWS:
        raise SystemExit(f"{counts['logging_prefs.generation']} generations exported, not {ROWS}")
    stored = sum(1 for g in doc["records"]["logging_prefs.generation"] if g["prompt"])
    if stored != ROWS:
        raise SystemExit(f"only {stored} of {ROWS} generations carry their prompt")
    print(f"checked: complete; rows per kind as COPY's: {counts}", flush=True)
    return len(body) / 2**20


def main() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("benchmarks run against PostgreSQL: set DATABASE_URL")
    bench_started = time.perf_counter()
    with scratch_database(f"bench_export_{RUN}") as name:
        setup_django()
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"scratch database {name} migrated in {time.perf_counter() - started:.1f} s")
        target, keys, others = make_account()
        load_generations(target.pk, keys, others)
        account = str(target.public_id)

        rounds = {"project": [], "baseline": []}
        for n in range(ROUNDS + 1):
            for side in ("baseline", "project"):
                result = run_side(side, target.pk, account)
                label = "warm-up" if n == 0 else f"round {n}"
                print(
                    f"{label} {side}: {result['seconds']:.3f} s, {result['bytes'] / 2**20:.1f} MB, "
                    f"process {result['rss_before_mb']:.1f} MB before, "
                    f"peak +{result['peak_rss_mb']:.1f} MB",
                    flush=True,
                )
                if n:
                    rounds[side].append(result)
        copied = rounds["baseline"][0]["rows"]
        document_mb = check_document(target.pk, account, copied)
    project = statistics.median(r["seconds"] for r in rounds["project"])
    baseline = statistics.median(r["seconds"] for r in rounds["baseline"])
    print(f"whole run: {time.perf_counter() - bench_started:.0f} s", flush=True)
    report(
        "export",
        project,
        baseline,
        "s",
        peak_rss_mb=round(max(r["peak_rss_mb"] for r in rounds["project"]), 1),
        baseline_peak_rss_mb=round(max(r["peak_rss_mb"] for r in rounds["baseline"]), 1),
        rounds_s=[round(r["seconds"], 3) for r in rounds["project"]],
        baseline_rounds_s=[round(r["seconds"], 3) for r in rounds["baseline"]],
        rows=ROWS,
        document_mb=round(document_mb, 1),
        copy_mb=round(rounds["baseline"][0]["bytes"] / 2**20, 1),
    )


# --- A child: one side, timed, with its memory high-water mark ----------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _copy_statements(user_id: int) -> list[tuple[str, str, list]]:
    """(kind, COPY statement, params): what the export reads of each entry, in its
    order, as one query (privacy.export._pages, without the pages)."""
    from privacy.export import _sort_field, export_entries

    statements = []
    for entry in export_entries():
        model = entry.model
        pk = model._meta.pk.attname
        names = [
            f.attname for f in model._meta.concrete_fields if f.attname not in entry.not_exported
        ]
        sort = _sort_field(entry)
        keys = [sort, pk] if sort else [pk]
        queryset = entry.queryset(user_id).order_by(*keys).values_list(*names)
        query_sql, params = queryset.query.sql_with_params()
        statements.append((entry.kind, f"COPY ({query_sql}) TO STDOUT", list(params)))
    return statements


def child(side: str, user_id: int, account: str) -> None:
    setup_django()
    from django.db import connection
    from django.utils import timezone

    from privacy.export import data_export

    connection.ensure_connection()
    statements = _copy_statements(user_id)
    exported_at = timezone.now()
    rows: dict[str, int] = {}
    size = 0
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # VmHWM := VmRSS
    rss_before = _status_kb("VmRSS")
    with open(os.devnull, "wb") as sink:
        started = time.perf_counter()
        if side == "project":
            for piece in data_export(user_id=user_id, account=account, exported_at=exported_at):
                size += len(piece)
                sink.write(piece)
        else:
            with connection.cursor() as cursor:
                for kind, statement, params in statements:
                    with cursor.copy(statement, params) as copy:
                        for block in copy:
                            size += len(block)
                            sink.write(block)
                    rows[kind] = cursor.rowcount
        seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    print(
        json.dumps(
            {
                "side": side,
                "seconds": seconds,
                "bytes": size,
                "rows": rows,
                "rss_before_mb": rss_before / 1024,
                "peak_rss_mb": (peak - rss_before) / 1024,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", choices=("project", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--user", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args.side, args.user, args.account)
    else:
        main()
