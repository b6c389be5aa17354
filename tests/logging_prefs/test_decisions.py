"""POST /internal/v1/decisions: what a key may log and where it may route, read from the
database on every call."""

from __future__ import annotations

import pytest

from accounts.actions import do_revoke_api_key
from accounts.models import ApiKey
from logging_prefs.actions import do_set_api_key_logging, do_set_logging_preferences
from tests.factories import UserFactory
from tests.logging_prefs.conftest import DECISIONS_URL, create_key

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
