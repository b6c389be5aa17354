"""Read-only queries, each prepared once per connection and then only executed: the
gateway's hot queries run through here, the decision
(logging_prefs.selectors.decision_for_key) and the decision with a model's routes
(gateway.selectors).

Django binds parameters client-side and sends and plans the whole statement every
time; on the gateway's hot path that cost more than the query (bench/decisions.py).
PORTAL_PREPARED_STATEMENTS (on by default) turns this off, and the query goes through
Django's cursor like any other: for a connection pooler that cannot keep a statement
prepared across transactions, or to rule this module out while looking for a fault.
Both ways give the same rows (tests/gateway/test_prepared.py).
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from decimal import Decimal

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from psycopg import pq


def fetch_one(sql: str, params: list[str]) -> tuple | None:
    """Run one read-only query on the default connection and return its first row."""
    rows = _fetch(sql, params, one=True)
    return rows[0] if rows else None


def fetch_all(sql: str, params: list[str]) -> list[tuple]:
    """Run one read-only query on the default connection and return all its rows."""
    return _fetch(sql, params, one=False)


def _fetch(sql: str, params: list[str], *, one: bool) -> list[tuple]:
    """The query's rows (only the first when `one`), as fetch_one and fetch_all say.

    With PORTAL_PREPARED_STATEMENTS off, through Django's own cursor, and that is all.
    Otherwise one round trip, and as little Python around it as the driver allows
    (bench/decisions.py). The statement is prepared once
    per connection, then only executed (Django binds parameters client-side and sends
    and plans the whole text every time), through libpq itself (_PreparedCursor), and
    the connection health check (a `SELECT 1` before the first query of each request,
    CONN_HEALTH_CHECKS) is replaced by one retry on a fresh connection when the kept
    one turns out to be broken (a database restart). The retry is safe because the
    query only reads, and is skipped inside a transaction, which a new connection
    could not continue.
    """
    if not settings.PORTAL_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return _rows(cursor, one)
    for attempt in (1, 2):
        try:
            # Opens a connection if there is none; unlike connection.cursor(), it does
            # not run the health check first.
            connection.ensure_connection()
            raw = _PreparedCursor(connection.connection.pgconn)
            if connection.queries_logged or connection.execute_wrappers:
                # Through Django's cursor wrappers: the query is logged, and counted by
                # tests, and passes through any execute_wrapper, like any other.
                if connection.queries_logged:
                    cursor = connection.make_debug_cursor(raw)
                else:
                    cursor = connection.make_cursor(raw)
                with cursor:
                    cursor.execute(sql, params)
                    connection.health_check_done = True  # as below
                    return _rows(cursor, one)
            # Otherwise what those wrappers would do and nothing more, at a third of
            # their cost: refuse to run in a broken transaction, and turn errors into
            # django.db errors (marking the connection for the end-of-request check).
            connection.validate_no_broken_transaction()
            with connection.wrap_database_errors:
                raw.execute(sql, params)
            # The query just proved the connection works: a later ORM query in the same
            # request need not run the health check's SELECT 1.
            connection.health_check_done = True
            return _rows(raw, one)
        except (OperationalError, InterfaceError):
            if attempt == 2 or connection.in_atomic_block:
                raise
            connection.close()
    raise AssertionError("unreachable")


def _rows(cursor, one: bool) -> list[tuple]:
    if one:
        row = cursor.fetchone()
        return [] if row is None else [row]
    return list(cursor.fetchall())


@functools.cache
def _statement(sql: str, n_params: int) -> tuple[bytes, bytes]:
    """The prepared statement's name and text for `sql` (%s placeholders -> $1, $2...)."""
    pieces = sql.split("%s")
    if "%" in "".join(pieces) or len(pieces) != n_params + 1:
        raise ValueError("one %s per parameter, and no other %")
    numbered = "".join(
        piece + (f"${index}" if index < len(pieces) else "")
        for index, piece in enumerate(pieces, start=1)
    )
    digest = hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()
    return f"portal_{digest}".encode(), numbered.encode()


class _PreparedCursor:
    """The part of a DB-API cursor Django's CursorWrapper uses (execute, fetchone,
    fetchall, close) for one read-only statement: prepared on a connection the first time it runs
    there (PQprepare), then executed with text parameters and text results
    (PQexecPrepared), the values converted by their column type.

    psycopg's own cursor does the same with prepare=True, and costs three times the
    Python time doing it (type adaptation, its prepared-statement bookkeeping and
    generators). Errors are psycopg's exception classes, as its cursors raise them.
    """

    # Which statements each connection (libpq's, which is what holds them) has
    # prepared; a new connection starts empty.
    _prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    _CONVERT = {
        16: lambda value: value == b"t",  # bool
        20: int,  # int8
        23: int,  # int4
        21: int,  # int2
        25: bytes.decode,  # text
        1043: bytes.decode,  # varchar
        2950: bytes.decode,  # uuid, as its canonical text
        1700: lambda value: Decimal(value.decode()),  # numeric
    }

    # Each statement's column converters, by statement name.
    _converters: dict[bytes, tuple] = {}

    # Read by Django's last_executed_query (query logging): None makes it show the SQL
    # with its parameters.
    _query = None

    def __init__(self, pgconn) -> None:
        self.pgconn = pgconn
        self._rows: list[tuple] = []

    def execute(self, sql: str, params: list[str]) -> None:
        name, numbered = _statement(sql, len(params))
        prepared = self._prepared.get(self.pgconn)
        if prepared is None:
            prepared = self._prepared.setdefault(self.pgconn, set())
        values = [param.encode() for param in params]
        result = None
        if name in prepared:
            result = self.pgconn.exec_prepared(name, values)
            if (
                result.status != pq.ExecStatus.TUPLES_OK
                and result.error_field(pq.DiagnosticField.SQLSTATE) == b"26000"
                and self.pgconn.transaction_status == pq.TransactionStatus.IDLE
            ):
                # The server forgot it (DISCARD ALL, a pooler's new session): again.
                prepared.discard(name)
                result = None
        if result is None:
            self._check(self.pgconn.prepare(name, numbered), pq.ExecStatus.COMMAND_OK)
            prepared.add(name)
            result = self.pgconn.exec_prepared(name, values)
        self._check(result, pq.ExecStatus.TUPLES_OK)
        if not result.ntuples:
            self._rows = []
            return
        # A statement's column types never change: their converters are looked up once.
        converters = self._converters.get(name)
        if converters is None:
            converters = tuple(self._CONVERT[result.ftype(i)] for i in range(result.nfields))
            self._converters[name] = converters
        get_value = result.get_value
        columns = range(len(converters))
        self._rows = [
            tuple(
                None if value is None else convert(value)
                for convert, value in zip(
                    converters, [get_value(row, i) for i in columns], strict=True
                )
            )
            for row in range(result.ntuples)
        ]

    def _check(self, result, expected):
        if result.status == expected:
            return result
        if self.pgconn.status != pq.ConnStatus.OK:
            # The connection is gone (a restart, a terminated backend): no SQLSTATE.
            message = self.pgconn.error_message.decode("utf-8", "replace").strip()
            raise psycopg.OperationalError(message or "the connection is lost")
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding="utf-8")
        raise psycopg.OperationalError(f"unexpected result status {result.status}")

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        self._rows = []
