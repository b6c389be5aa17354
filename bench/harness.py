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
import urllib.request
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(workers: int = 4):
    """Serve bench.settings with gunicorn, configured as deployed, on a free loopback port."""
    port = free_port()
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings")
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            # The portal's own settings (portal/gunicorn_conf.py), as deployed.
            "--config",
            str(ROOT / "portal" / "gunicorn_conf.py"),
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
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def wrk(url: str, body: dict, *, connections: int = 32, seconds: int = 10) -> dict:
    """Drive `url` with wrk; return requests/s, p99 in ms and non-2xx count."""
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA.format(body=json.dumps(json.dumps(body)), token=GATEWAY_TOKEN))
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
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


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


def report_against_trivial_view(name: str, base: str, path: str, body: dict) -> None:
    """Drive POST `path` and the trivial view on the gunicorn at `base`, round after
    round, and print the result line: requests/s against the trivial view's, and the
    worst round's p99 beside each round's (whether one slow round made it)."""
    urls = {"trivial": base + "/bench/trivial", name: base + path}
    # Warm both paths (connections, imports) before measuring.
    for url in urls.values():
        wrk(url, body, connections=CONNECTIONS, seconds=2)
    rounds = [
        {
            side: wrk(url, body, connections=CONNECTIONS, seconds=SECONDS)
            for side, url in urls.items()
        }
        for _ in range(ROUNDS)
    ]
    trivial, project = (_combine([r[side] for r in rounds]) for side in urls)
    if project["non_2xx"]:
        raise SystemExit(f"{path} answered {project['non_2xx']} non-2xx responses")
    print(f"trivial view: {trivial}")
    print(f"{path}: {project}")
    report(
        name,
        project["rps"],
        trivial["rps"],
        "req/s",
        p99_ms=project["p99_ms"],
        baseline_p99_ms=trivial["p99_ms"],
        rounds_p99_ms=[r[name]["p99_ms"] for r in rounds],
        baseline_rounds_p99_ms=[r["trivial"]["p99_ms"] for r in rounds],
    )


def _combine(results: list[dict]) -> dict:
    """Rounds of equal length: the mean rate, the worst round's p99, every error."""
    return {
        "rps": sum(r["rps"] for r in results) / len(results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "non_2xx": sum(r["non_2xx"] for r in results),
        "socket_errors": "; ".join(r["socket_errors"] for r in results if r["socket_errors"]),
    }
