"""POST /internal/v1/decisions: what a key may log and where it may route, read from the
database on every call."""

from __future__ import annotations

import socket

import psycopg
import pytest
from django.db import connection, connections

from accounts.actions import do_revoke_api_key
from accounts.models import ApiKey
from gateway.prepared import _statement
from logging_prefs.actions import do_set_api_key_logging, do_set_logging_preferences
from logging_prefs.selectors import DECISION_SQL
from tests.factories.accounts import UserFactory
from tests.helpers.gateway import DECISIONS_URL, create_key
from tests.worker_process import database_url

pytestmark = pytest.mark.django_db


def test_a_decision_names_the_key_the_account_and_its_policy(gateway, key):
    response = gateway.decide(key.raw)
    assert response.status_code == 200
    assert response.json() == {
        "key_id": key.api_key.pk,
        "account": str(key.user.public_id),
        "log_prompts": True,
        "provider_policy": {
            "allow_training_paid": False,
            "allow_training_free": False,
            "allow_retention": True,
            "allow_publication": False,
            "zdr_only": False,
            # On by default: the policy does not transfer personal data internationally.
            "in_region_only": True,
        },
    }


def test_a_decision_costs_one_database_query(gateway, key, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = gateway.decide(key.raw)
    assert response.status_code == 200


def test_a_refused_decision_costs_at_most_one_query(gateway, key, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert gateway.decide("sk-pt-unknown").status_code == 401
    with django_assert_num_queries(0):
        assert gateway.post(DECISIONS_URL, {"api_key": ""}).status_code == 422


def test_an_unknown_key_is_refused_with_401(gateway, key):
    response = gateway.decide(key.raw + "x")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unknown or revoked API key."}


def test_revoked_key_is_refused_with_401(gateway, key):
    assert gateway.decide(key.raw).status_code == 200
    do_revoke_api_key(api_key=key.api_key, acting_user=key.user)
    response = gateway.decide(key.raw)
    assert response.status_code == 401
    assert response.json()["detail"] == "Unknown or revoked API key."


def test_inactive_account_is_refused_with_403(gateway, key):
    key.user.is_active = False
    key.user.save(update_fields=["is_active"])
    response = gateway.decide(key.raw)
    assert response.status_code == 403
    assert response.json()["detail"] == "The API key's account is not active."


def test_a_preference_change_is_in_force_for_the_next_decision(gateway, key):
    user = key.user
    assert gateway.decide(key.raw).json()["log_prompts"] is True

    do_set_logging_preferences(
        user=user,
        acting_user=user,
        changes={"log_prompts": False, "zdr_only": True, "allow_training_free": True},
    )
    decision = gateway.decide(key.raw).json()
    assert decision["log_prompts"] is False
    assert decision["provider_policy"]["zdr_only"] is True
    assert decision["provider_policy"]["allow_training_free"] is True

    do_set_logging_preferences(user=user, acting_user=user, changes={"log_prompts": True})
    assert gateway.decide(key.raw).json()["log_prompts"] is True


def test_a_never_log_key_decides_no_logging_even_when_the_account_logs(gateway, account):
    never = create_key(account, logging=ApiKey.Logging.NEVER)
    logging = create_key(account)
    assert gateway.decide(never.raw).json()["log_prompts"] is False
    assert gateway.decide(logging.raw).json()["log_prompts"] is True

    do_set_api_key_logging(
        api_key=logging.api_key, acting_user=account, logging=ApiKey.Logging.NEVER
    )
    assert gateway.decide(logging.raw).json()["log_prompts"] is False


def test_a_decision_never_answers_for_another_account(gateway, key):
    other = create_key(UserFactory())
    assert gateway.decide(other.raw).json()["account"] == str(other.user.public_id)
    assert gateway.decide(key.raw).json()["account"] == str(key.user.public_id)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "api_key: Field required"),
        ({"api_key": ""}, "api_key: String should have at least 1 character"),
        ({"api_key": 42}, "api_key: Input should be a valid string"),
        ({"api_key": None}, "api_key: Input should be a valid string"),
        ({"api_key": "k" * 300}, "api_key: String should have at most 256 characters"),
        ({"api_key": "sk-pt-\x00"}, "api_key: must not contain NUL characters"),
    ],
)
def test_a_malformed_decision_request_is_a_readable_422(gateway, body, where):
    response = gateway.post(DECISIONS_URL, body)
    assert response.status_code == 422
    payload = response.json()
    assert where in payload["detail"]
    assert payload["errors"][0]["loc"] == "api_key"


def test_a_key_that_is_not_unicode_text_is_a_422_not_a_crash(gateway):
    # A lone surrogate is valid JSON but cannot be hashed.
    response = gateway.post(DECISIONS_URL, '{"api_key": "sk-pt-\\ud800"}')
    assert response.status_code == 422
    assert response.json()["detail"].startswith("api_key:")


# --- The hot path on PostgreSQL: a prepared statement, no health-check round trip ------


def test_a_decision_is_one_prepared_statement_run_again_not_sent_again(gateway, key):
    decision = _statement(DECISION_SQL, 1)[0].decode()

    def prepared() -> set[str]:
        # Earlier tests on this connection may have prepared other statements.
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_prepared_statements")
            return {name for (name,) in cursor.fetchall()}

    assert gateway.decide(key.raw).status_code == 200
    before = prepared()
    assert decision in before
    # Another key, another account: the same statement, nothing new prepared.
    other = create_key(UserFactory())
    assert gateway.decide(other.raw).json()["key_id"] == other.api_key.pk
    assert prepared() == before


@pytest.mark.django_db(transaction=True)
def test_a_decision_prepares_again_when_the_server_forgot_the_statement(gateway, key):
    assert gateway.decide(key.raw).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's new session looks like
    response = gateway.decide(key.raw)
    assert response.status_code == 200
    assert response.json()["key_id"] == key.api_key.pk


@pytest.mark.django_db(transaction=True)
def test_a_decision_survives_a_connection_the_database_closed(gateway, key):
    # No health check before the query: a broken connection is replaced and the read
    # tried once more, so a database restart costs the gateway no failed decision.
    assert gateway.decide(key.raw).status_code == 200
    backend = connection.connection.info.backend_pid
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])
    response = gateway.decide(key.raw)
    assert response.status_code == 200
    assert response.json()["key_id"] == key.api_key.pk
    assert connection.connection.info.backend_pid != backend


@pytest.mark.django_db(transaction=True)
def test_a_database_that_is_down_is_a_json_503_not_a_crash(gateway, key, monkeypatch):
    assert gateway.decide(key.raw).status_code == 200
    connection.close()
    # Every new connection goes to a port where nothing listens.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    default = connections["default"]
    params = default.get_connection_params()
    monkeypatch.setattr(default, "get_connection_params", lambda: {**params, "port": free_port})
    response = gateway.decide(key.raw)
    assert response.status_code == 503
    assert "database" in response.json()["detail"].lower()
