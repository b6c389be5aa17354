"""gunicorn, run with the portal's own settings (portal/gunicorn_conf.py, and the
gateway's server's, portal/gunicorn_gateway_conf.py), logs each request's path but
neither its query string nor its Referer: both carry personal data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.mark.parametrize("config", ["gunicorn_conf.py", "gunicorn_gateway_conf.py"])
def test_the_access_log_leaves_out_query_strings_and_referers(tmp_path, config):
    log = tmp_path / "access.log"
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            str(ROOT / "portal" / config),
            "tests.portal.plain_wsgi_app:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(log),
        ],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/accounts/wallet/login/?address={WALLET}&next=%2Faccount%2F",
            headers={
                "Referer": "https://portal.example.com/account/activity/?app=https%3A%2F%2Fmy-diary.example",
                "User-Agent": "access-log-test",
            },
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = urllib.request.urlopen(request, timeout=2)  # noqa: S310 (loopback)
                assert answer.read() == b"ok"
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no gunicorn"
                time.sleep(0.2)
        deadline = time.monotonic() + 10
        while "access-log-test" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "gunicorn logged no request"
            time.sleep(0.1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    line = next(line for line in log.read_text().splitlines() if "access-log-test" in line)
    assert '"GET /accounts/wallet/login/ HTTP/1.1" 200' in line
    for private in (WALLET, "address", "next", "my-diary", "?", "/account/activity/"):
        assert private not in line, line
