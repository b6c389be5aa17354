"""One database everywhere: with no DATABASE_URL the portal runs on a private PostgreSQL
server under var/ (portal/devdb.py), never on another engine.

The lifecycle tests use a server of their own in a scratch folder, so the server this
test run may itself be using (no DATABASE_URL) is never stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import environ
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from portal import devdb
from tests import worker_process

BASE_DIR = Path(settings.BASE_DIR)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`manage.py args` with the environment of a bare machine plus `env`."""
    bare = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**bare, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def private_server():
    """The clone's private server, running (started here if it was not; then stopped)."""
    started = devdb.start()
    try:
        yield
    finally:
        if started:
            devdb.stop()


@pytest.fixture
def scratch_server(tmp_path, monkeypatch) -> Path:
    """devdb pointed at a data folder of the test's own; its server stopped at the end."""
    data_dir = tmp_path / "var" / "postgres"
    monkeypatch.setattr(devdb, "DATA_DIR", data_dir)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    try:
        yield data_dir
    finally:
        devdb.stop()


def test_without_database_url_the_portal_runs_on_the_private_postgresql_server(
    private_server,
):
    result = manage(
        "shell",
        "-c",
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SELECT current_database(), version()')\n"
        "    print(connection.vendor, *cursor.fetchone(), sep='|')\n",
    )
    assert result.returncode == 0, result.stderr
    vendor, database, version = result.stdout.strip().splitlines()[-1].split("|")
    assert vendor == "postgresql"
    assert database == devdb.DATABASE
    assert version.startswith("PostgreSQL 18.")


def test_a_database_url_of_another_engine_is_refused(tmp_path):
    sqlite_file = tmp_path / "db.sqlite3"
    result = manage("check", DATABASE_URL=f"sqlite:///{sqlite_file}")
    assert result.returncode != 0
    assert "DATABASE_URL must name a PostgreSQL database" in result.stderr
    assert not sqlite_file.exists()


def test_the_private_server_listens_on_a_socket_in_var_and_on_no_tcp_port():
    config = environ.Env.db_url_config(devdb.database_url())
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["OPTIONS"] == {"host": str(BASE_DIR / "var" / "postgres")}
    assert config["NAME"] == "portal" and config["HOST"] == "" and config["PORT"] == ""


def test_start_is_idempotent_and_stop_stops_the_server(scratch_server):
    assert not devdb.is_running()
    assert devdb.start() is True
    assert devdb.is_running()
    assert devdb.socket_path().parent == scratch_server
    # A second start (another terminal, pytest beside `make run`) reuses the server.
    assert devdb.start() is False
    with psycopg.connect(devdb.database_url(), autocommit=True) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("portal",)
    assert devdb.stop() is True
    assert not devdb.is_running()
    assert devdb.stop() is False


CONNECTS = [
    sys.executable,
    "-c",
    "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL']).close()",
]


def test_run_gives_the_command_the_server_and_stops_it_only_if_it_started_it(scratch_server):
    # Not running: `run` starts it, the command reaches it by DATABASE_URL, and it stops.
    assert devdb.run(CONNECTS) == 0
    assert not devdb.is_running()
    # Already running (`make run` in another terminal): left running afterwards.
    devdb.start()
    assert devdb.run(CONNECTS) == 0
    assert devdb.is_running()
    # The command's exit status is run's.
    assert devdb.run([sys.executable, "-c", "raise SystemExit(3)"]) == 3


def test_a_worker_process_reaches_a_test_database_on_a_socket_folder(monkeypatch):
    # The Celery worker tests hand their subprocesses the test database's URL; for the
    # private server that database is on a Unix socket folder, not a host and port.
    socket_folder = "/some where/var/postgres"
    # Item by item, restored afterwards: replacing the connection's settings_dict
    # through the connection proxy left pytest-django's teardown without one.
    for key, value in {
        "NAME": "test_portal",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "OPTIONS": {"host": socket_folder},
    }.items():
        monkeypatch.setitem(connection.settings_dict, key, value)
    config = environ.Env.db_url_config(worker_process.database_url())
    assert config["NAME"] == "test_portal"
    assert config["USER"] == "postgres"
    assert config["OPTIONS"] == {"host": socket_folder}
