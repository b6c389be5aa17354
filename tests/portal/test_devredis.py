"""One cache and broker everywhere: with no REDIS_URL the portal uses a private Valkey
server under var/ (portal/devredis.py), never a file cache or a filesystem broker.

The lifecycle tests use a server of their own in a scratch folder, so the server this
test run may itself be using (no REDIS_URL) is never stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings
from kombu import Connection

from portal import devdb, devredis

BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture
def private_server():
    """The clone's private server, running (started here if it was not; then stopped)."""
    started = devredis.start()
    try:
        yield
    finally:
        if started:
            devredis.stop()


@pytest.fixture
def scratch_server(tmp_path, monkeypatch) -> Path:
    """devredis pointed at a folder of the test's own; its server stopped at the end."""
    data_dir = tmp_path / "var" / "redis"
    monkeypatch.setattr(devredis, "DATA_DIR", data_dir)
    monkeypatch.delenv("REDIS_URL", raising=False)
    try:
        yield data_dir
    finally:
        devredis.stop()


def client() -> redis.Redis:
    return redis.Redis(unix_socket_path=str(devredis.socket_path()), decode_responses=True)


def test_without_redis_url_the_portal_caches_and_queues_on_the_private_valkey_server(
    private_server,
):
    bare = {
        name: value
        for name, value in os.environ.items()
        if name not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import redis\n"
            "from django.conf import settings\n"
            "from portal import health\n"
            "server = redis.Redis.from_url(settings.REDIS_URL).info('server')\n"
            "print(settings.CACHES['default']['BACKEND'], settings.CELERY_BROKER_URL,\n"
            "      server['server_name'], health._cache(), health._broker(), sep='|')\n",
        ],
        cwd=BASE_DIR,
        env={**bare, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    backend, broker, server_name, cache_ok, broker_ok = (
        result.stdout.strip().splitlines()[-1].split("|")
    )
    assert backend == "django.core.cache.backends.redis.RedisCache"
    assert broker == f"redis+socket://{BASE_DIR / 'var' / 'redis' / 'valkey.sock'}"
    # The private server, not the machine's Redis.
    assert server_name == "valkey"
    assert (cache_ok, broker_ok) == ("True", "True")


def test_the_private_server_listens_on_a_socket_in_var_on_no_tcp_port_and_keeps_nothing(
    private_server,
):
    socket_path = BASE_DIR / "var" / "redis" / "valkey.sock"
    with client() as valkey:
        assert valkey.config_get("port") == {"port": "0"}
        assert valkey.config_get("unixsocket") == {"unixsocket": str(socket_path)}
        assert valkey.config_get("save") == {"save": ""}
        assert valkey.config_get("appendonly") == {"appendonly": "no"}
    # Only its owner may connect.
    assert socket_path.stat().st_mode & 0o777 == 0o700


def test_the_socket_url_reaches_the_same_database_through_redis_py_and_kombu(
    scratch_server, tmp_path, monkeypatch
):
    # A folder with a space, which the URL quotes, and a database other than 0.
    monkeypatch.setattr(devredis, "DATA_DIR", tmp_path / "a folder" / "redis")
    devredis.start()
    url = f"{devredis.redis_url()}?db=3"
    assert " " not in url
    with Connection(devredis.broker_url(url)) as connection:
        queue = connection.SimpleQueue("devredis-test")
        queue.put({"n": 1})
        queue.close()
    with redis.Redis.from_url(url) as valkey:
        assert valkey.llen("devredis-test") == 1
    with redis.Redis.from_url(devredis.redis_url()) as valkey:
        assert valkey.llen("devredis-test") == 0
    # A TCP URL is the same for both.
    assert devredis.broker_url("redis://127.0.0.1:6379/9") == "redis://127.0.0.1:6379/9"


def test_start_is_idempotent_and_stop_stops_the_server(scratch_server):
    assert not devredis.is_running()
    assert devredis.start() is True
    assert devredis.is_running()
    assert devredis.socket_path().parent == scratch_server
    # A second start (another terminal, pytest beside `make run`) reuses the server.
    with client() as valkey:
        valkey.set("kept", "yes")
        assert devredis.start() is False
        assert valkey.get("kept") == "yes"
    assert devredis.stop() is True
    assert not devredis.is_running()
    assert not devredis.socket_path().exists()
    assert devredis.stop() is False
    # Nothing is kept on disk: a new server starts empty.
    assert devredis.start() is True
    with client() as valkey:
        assert valkey.get("kept") is None
    assert sorted(path.name for path in scratch_server.iterdir()) == [
        "valkey.log",
        "valkey.pid",
        "valkey.sock",
    ]


def test_a_killed_server_leaves_a_socket_that_the_next_start_replaces(scratch_server):
    devredis.start()
    pid = int((scratch_server / "valkey.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    # Its socket file is left behind, and nothing answers on it.
    assert devredis.socket_path().exists()
    assert not devredis.is_running()
    assert devredis.stop() is False
    assert devredis.start() is True
    assert devredis.is_running()


PINGS = [
    sys.executable,
    "-c",
    "import os, redis; assert redis.Redis.from_url(os.environ['REDIS_URL']).ping()",
]


def test_run_gives_the_command_the_server_and_stops_it_only_if_it_started_it(scratch_server):
    # Not running: `run` starts it, the command reaches it by REDIS_URL, and it stops.
    assert devdb.run(PINGS) == 0
    assert not devredis.is_running()
    # Already running (`make run` in another terminal): left running afterwards.
    devredis.start()
    assert devdb.run(PINGS) == 0
    assert devredis.is_running()
    devredis.stop()


def test_run_leaves_the_private_server_alone_when_redis_url_is_set(scratch_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere.invalid:6379/0")
    command = [
        sys.executable,
        "-c",
        "import os; assert os.environ['REDIS_URL'] == 'redis://elsewhere.invalid:6379/0'",
    ]
    assert devdb.run(command) == 0
    assert not devredis.is_running()
    assert not scratch_server.exists()
