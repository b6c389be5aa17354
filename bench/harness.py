"""Shared benchmark machinery: a gunicorn server on loopback, wrk as the load
generator, and the one-line JSON result every benchmark prints last (DESIGN.md)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GATEWAY_TOKEN = "bench-" + secrets.token_hex(16)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ["PORTAL_GATEWAY_TOKEN"] = GATEWAY_TOKEN
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("benchmarks run against PostgreSQL: set DATABASE_URL")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@contextlib.contextmanager
def scratch_database(name: str):
    """A database of its own for the run, created next to DATABASE_URL's (which points at
    it meanwhile, for this process and its children) and dropped at the end, even on
    failure."""
    import psycopg

    admin_url = os.environ["DATABASE_URL"]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        parts = urllib.parse.urlsplit(admin_url)
        os.environ["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path="/" + name))
        yield name
    finally:
        os.environ["DATABASE_URL"] = admin_url
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sql(statement: str, params=None) -> float:
    """Run one statement on Django's connection; return the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
    return time.perf_counter() - started


def secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the indexes that back no constraint: a bulk load drops them
    first and rebuilds them after."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            ORDER BY i.relname
            """,
            [table],
        )
        return cursor.fetchall()


def load_without_indexes(table: str, statement: str, params) -> tuple[int, float, float]:
    """Run a bulk INSERT into `table` with its secondary indexes dropped, then rebuild
    them. Returns how many indexes, the seconds the load took and the seconds the
    rebuild took."""
    indexes = secondary_indexes(table)
    for name, _ in indexes:
        sql(f'DROP INDEX "{name}"')
    loaded = sql(statement, params)
    rebuilt = sum(sql(definition) for _, definition in indexes)
    return len(indexes), loaded, rebuilt


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(workers: int = 4, config: str = "gunicorn_conf.py"):
    """Serve bench.settings with gunicorn, configured as deployed (`config`: the
    browser-facing server's settings, or the gateway's server's), on a free loopback port."""
    port = free_port()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings")
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            # The portal's own settings (portal/gunicorn_conf.py or the gateway's
            # server's, portal/gunicorn_gateway_conf.py), as deployed.
            "--config",
            str(ROOT / "portal" / config),
            "bench.wsgi_app:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/bench/trivial", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


_LUA = """
{request}

-- Every latency wrk recorded (microseconds, and how many requests took it), so that
-- rounds can be merged into one distribution. As in wrk's own percentiles, these include
-- the samples its coordinated-omission correction adds for stalled requests.
done = function(summary, latency, requests)
  local out = io.open({histogram}, "w")
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(value, " ", count, "\\n")
  end
  out:close()
end
"""


def _lua_request(body: dict | None, headers: dict[str, str] | None) -> str:
    """wrk's request: a POST of `body` as JSON with the gateway's token, or, with no
    body, a GET with `headers` (a browser's cookie)."""
    if body is None:
        lines = ['wrk.method = "GET"']
    else:
        lines = [
            'wrk.method = "POST"',
            f"wrk.body = {json.dumps(json.dumps(body))}",
            'wrk.headers["Content-Type"] = "application/json"',
            f'wrk.headers["Authorization"] = "Bearer {GATEWAY_TOKEN}"',
        ]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items()]
    return "\n".join(lines)


def wrk(
    url: str,
    body: dict | None,
    *,
    connections: int = 32,
    seconds: int = 10,
    headers: dict[str, str] | None = None,
) -> dict:
    """Drive `url` with wrk (a POST of `body`, or a GET when it is None); return
    requests/s, p99 in ms, non-2xx count and the latency histogram ({microseconds:
    requests})."""
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install -y wrk")
    histogram_file = tempfile.NamedTemporaryFile("r", suffix=".hist", delete=False)  # noqa: SIM115
    histogram_file.close()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            _LUA.format(
                request=_lua_request(body, headers),
                histogram=json.dumps(histogram_file.name),
            )
        )
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        histogram = _read_histogram(histogram_file.name)
    finally:
        os.unlink(script.name)
        os.unlink(histogram_file.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "requests": requests,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
        "histogram": histogram,
    }


def _read_histogram(path: str) -> Counter:
    histogram: Counter = Counter()
    with open(path) as lines:
        for line in lines:
            value, count = line.split()
            histogram[int(value)] += int(count)
    return histogram


def percentile_ms(histogram: Counter, percent: float) -> float:
    """The latency that `percent` of the requests in `histogram` took at most, ranked as
    wrk ranks its own percentiles (hdr_value_at_percentile)."""
    total = sum(histogram.values())
    wanted = max(int(total * percent / 100 + 0.5), 1)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= wanted:
            return value / 1000
    raise ValueError("an empty histogram has no percentile")


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def report(name: str, project: float, baseline: float, unit: str, **extra) -> None:
    """The last line of every benchmark: one JSON object (DESIGN.md, "Benchmarks")."""
    ratio = project / baseline if baseline else float("nan")
    print(
        json.dumps(
            {
                "bench": name,
                "project": round(project, 3),
                "baseline": round(baseline, 3),
                "unit": unit,
                "ratio": round(ratio, 3),
                **extra,
            }
        )
    )


# The HTTP benchmarks measure one gateway endpoint against the trivial view on the same
# server. Both sides alternate in ROUNDS rounds of SECONDS each, so a drift in the
# machine's speed during the run (a shared 2-core machine drifts by 20%) weighs on both
# alike.
ROUNDS = 3
SECONDS = 5
CONNECTIONS = 32


def report_against_trivial_view(
    name: str,
    base: str,
    path: str,
    body: dict | None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict | None = None,
    connections: int = CONNECTIONS,
) -> None:
    """Drive `path` (POST `body`, or GET when it is None, with `headers`) and the
    trivial view, the same request, on the gunicorn at `base`, round after round, and
    print the result line: requests/s against the trivial view's; `p99_ms`,
    the p99 of every request measured (the rounds' latencies merged); and each round's
    p99 and the worst of them, which tell whether one slow round made the tail."""
    urls = {"trivial": base + "/bench/trivial", name: base + path}
    # Warm both paths (connections, imports) before measuring.
    for url in urls.values():
        wrk(url, body, connections=connections, seconds=2, headers=headers)
    rounds = [
        {
            side: wrk(url, body, connections=connections, seconds=SECONDS, headers=headers)
            for side, url in urls.items()
        }
        for _ in range(ROUNDS)
    ]
    trivial, project = (_combine([r[side] for r in rounds]) for side in urls)
    if project["non_2xx"]:
        raise SystemExit(f"{path} answered {project['non_2xx']} non-2xx responses")
    for label, side in (("trivial view", trivial), (path, project)):
        print(f"{label}: {_without(side, 'histogram')}")
    report(
        name,
        project["rps"],
        trivial["rps"],
        "req/s",
        p99_ms=project["p99_ms"],
        baseline_p99_ms=trivial["p99_ms"],
        worst_round_p99_ms=project["worst_round_p99_ms"],
        baseline_worst_round_p99_ms=trivial["worst_round_p99_ms"],
        rounds_p99_ms=[r[name]["p99_ms"] for r in rounds],
        baseline_rounds_p99_ms=[r["trivial"]["p99_ms"] for r in rounds],
        requests=project["requests"],
        **(extra or {}),
    )


def _without(result: dict, key: str) -> dict:
    return {k: v for k, v in result.items() if k != key}


def _combine(results: list[dict]) -> dict:
    """Rounds of equal length: the mean rate; the p99 of all their requests and the
    worst round's; every error."""
    merged: Counter = sum((r["histogram"] for r in results), Counter())
    return {
        "rps": sum(r["rps"] for r in results) / len(results),
        "p99_ms": round(percentile_ms(merged, 99), 2),
        "worst_round_p99_ms": max(r["p99_ms"] for r in results),
        "requests": sum(r["requests"] for r in results),
        "non_2xx": sum(r["non_2xx"] for r in results),
        "socket_errors": "; ".join(r["socket_errors"] for r in results if r["socket_errors"]),
    }
