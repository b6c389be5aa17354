"""gateway.prepared runs read-only queries, each prepared once per connection, or through
Django's cursor when PORTAL_PREPARED_STATEMENTS is off; both ways give the same rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.actions import do_create_api_key
from gateway.prepared import _PreparedCursor, _statement, fetch_all, fetch_one
from logging_prefs.selectors import AccountInactive, UnknownKey, decision_for_key
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

# Every type the decision reads: an integer, a boolean, text, a UUID as text and a NULL.
SQL = "SELECT %s::int8 + 1, %s = 'yes', %s::text, %s::uuid::text, NULL::text"
PARAMS = ["41", "yes", "héllo", "0b5a3c64-90f4-4f53-9a54-7a0b6b0d8f6e"]
ROW = (42, True, "héllo", "0b5a3c64-90f4-4f53-9a54-7a0b6b0d8f6e", None)
# Several rows, and the routes' types: numeric prices, a varchar, an int4 and a NULL.
ROWS_SQL = (
    "SELECT n * 1.25::numeric(12, 4), ('r' || n)::varchar(20), n::int4, NULL::numeric"
    " FROM generate_series(1, %s::int) AS n ORDER BY n"
)


@pytest.fixture(autouse=True)
def _nothing_prepared():
    """The tests share a connection, and a prepared statement outlives its test."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    _PreparedCursor._prepared.pop(connection.connection.pgconn, None)


def _prepared_here() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "django cursor"])
def test_both_ways_give_the_same_row(prepared):
    with override_settings(PORTAL_PREPARED_STATEMENTS=prepared):
        assert fetch_one(SQL, PARAMS) == ROW
        assert fetch_one(SQL + " WHERE false", PARAMS) is None
    assert bool(_prepared_here()) is prepared


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "django cursor"])
def test_both_ways_give_the_same_rows(prepared):
    with override_settings(PORTAL_PREPARED_STATEMENTS=prepared):
        assert fetch_all(ROWS_SQL, ["3"]) == [
            (Decimal("1.2500"), "r1", 1, None),
            (Decimal("2.5000"), "r2", 2, None),
            (Decimal("3.7500"), "r3", 3, None),
        ]
        assert fetch_all(ROWS_SQL, ["0"]) == []
        # fetch_one of a query with several rows is its first row.
        assert fetch_one(ROWS_SQL, ["2"]) == (Decimal("1.2500"), "r1", 1, None)


def test_a_statement_is_prepared_once_then_only_executed():
    for _ in range(3):
        assert fetch_one(SQL, PARAMS) == ROW
    assert _prepared_here() == [_statement(SQL, len(PARAMS))[0].decode()]


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "django cursor"])
def test_the_query_is_logged_either_way(prepared):
    with (
        override_settings(PORTAL_PREPARED_STATEMENTS=prepared),
        CaptureQueriesContext(connection) as queries,
    ):
        fetch_one(SQL, PARAMS)
    assert len(queries) == 1
    assert "héllo" in queries[0]["sql"]


def test_placeholders_are_numbered_and_nothing_else_is_formatted():
    name, text = _statement("SELECT %s, %s", 2)
    assert text == b"SELECT $1, $2"
    assert name.startswith(b"portal_")
    with pytest.raises(ValueError):
        _statement("SELECT %s", 2)
    with pytest.raises(ValueError):
        _statement("SELECT '100%' || %s", 1)


def _outcome(raw_key: str):
    try:
        return decision_for_key(raw_key)
    except (UnknownKey, AccountInactive) as exc:
        return type(exc)


def test_a_decision_is_the_same_with_prepared_statements_off():
    user = UserFactory()
    _, raw = do_create_api_key(user=user, acting_user=user, name="app", logging="account")
    closed = UserFactory(is_active=False)
    _, closed_raw = do_create_api_key(user=closed, acting_user=closed, name="x", logging="never")
    # A key whose own rules narrow its account: the booleans that come back decide.
    _, strict_raw = do_create_api_key(
        user=user,
        acting_user=user,
        name="strict",
        provider_rules={"zdr_only": True, "no_training": True, "in_region_only": True},
    )
    keys = [raw, "sk-pt-nobody", closed_raw, strict_raw]
    on = [_outcome(key) for key in keys]
    with override_settings(PORTAL_PREPARED_STATEMENTS=False):
        off = [_outcome(key) for key in keys]
    assert on == off
    assert on[0].account == str(user.public_id)
    assert on[1:3] == [UnknownKey, AccountInactive]
    assert on[0].provider_policy["zdr_only"] is False
    assert on[3].provider_policy["zdr_only"] is True
    assert on[3].provider_policy["allow_training_free"] is False


def test_prepared_statements_are_on_unless_turned_off(settings):
    assert settings.PORTAL_PREPARED_STATEMENTS is True
