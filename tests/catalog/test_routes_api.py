"""POST /internal/v1/routes: where a key's request for a model may go, under the
account's provider data-policy choices, read from the database on every call."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from accounts.actions import do_revoke_api_key
from logging_prefs.actions import do_set_logging_preferences
from tests.factories.accounts import UserFactory
from tests.factories.catalog import EndpointFactory, LanguageModelFactory, ProviderFactory
from tests.helpers.gateway import create_key

pytestmark = pytest.mark.django_db

ROUTES_URL = "/internal/v1/routes"
MODEL = "acme/writer-2"


@pytest.fixture
def writer():
    model = LanguageModelFactory(author="acme", slug="writer-2")
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Careful"),
        input_price=Decimal("3.00"),
        output_price=Decimal("15.00"),
    )
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Keeper"),
        input_price=Decimal("2.00"),
        output_price=Decimal("8.00"),
        retains_prompts=True,
        retention_days=30,
    )
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Trainer"),
        input_price=Decimal("0.50"),
        output_price=Decimal("1.50"),
        trains_on_prompts=True,
    )
    return model


def route(gateway, raw_key: str, model: str = MODEL):
    return gateway.post(ROUTES_URL, {"api_key": raw_key, "model": model})


def providers(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [endpoint["provider"] for endpoint in response.json()["endpoints"]]


def test_routes_are_the_allowed_endpoints_cheapest_first_with_their_policy(gateway, writer):
    key = create_key(UserFactory())
    response = route(gateway, key.raw)
    # A new account allows retention and no training: the trainer is left out.
    assert providers(response) == ["Keeper", "Careful"]
    keeper, careful = response.json()["endpoints"]
    assert keeper == {
        "provider": "Keeper",
        "input_price": "2.00",
        "output_price": "8.00",
        "region": "eu",
        "data_policy": {
            "trains_on_prompts": False,
            "retains_prompts": True,
            "retention_days": 30,
            "publishes_prompts": False,
            "zero_data_retention": False,
        },
    }
    assert careful["data_policy"]["zero_data_retention"] is True


def test_a_changed_choice_is_in_force_for_the_next_route(gateway, writer):
    key = create_key(UserFactory())
    user = key.user
    do_set_logging_preferences(user=user, acting_user=user, changes={"allow_training_paid": True})
    assert providers(route(gateway, key.raw)) == ["Trainer", "Keeper", "Careful"]
    do_set_logging_preferences(user=user, acting_user=user, changes={"zdr_only": True})
    assert providers(route(gateway, key.raw)) == ["Careful"]


def test_no_allowed_endpoint_is_a_409_that_says_why(gateway, writer):
    key = create_key(UserFactory())
    user = key.user
    do_set_logging_preferences(user=user, acting_user=user, changes={"zdr_only": True})
    writer.endpoints.filter(provider__name="Careful").delete()
    response = route(gateway, key.raw)
    assert response.status_code == 409
    assert "allow none of acme/writer-2's endpoints" in response.json()["detail"]


@pytest.mark.parametrize("model", ["acme/unknown", "no-slash", "acme/writer-2/extra"])
def test_an_unknown_model_is_a_404(gateway, writer, model):
    key = create_key(UserFactory())
    response = route(gateway, key.raw, model)
    assert response.status_code == 404
    assert "is listed" in response.json()["detail"]


def test_unknown_revoked_and_inactive_keys_are_refused_like_decisions(gateway, writer):
    assert route(gateway, "sk-pt-nobody").status_code == 401
    revoked = create_key(UserFactory())
    do_revoke_api_key(api_key=revoked.api_key, acting_user=revoked.user)
    assert route(gateway, revoked.raw).json() == {"detail": "Unknown or revoked API key."}
    closed = create_key(UserFactory())
    closed.user.is_active = False
    closed.user.save(update_fields=["is_active"])
    assert route(gateway, closed.raw).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": "k"},
        {"model": MODEL},
        {"api_key": "k", "model": ""},
        {"api_key": "k", "model": "acme/a\x00b"},
        {"api_key": "k", "model": 7},
        {"api_key": "k", "model": "m" * 201},
    ],
    ids=["no model", "no key", "empty model", "NUL", "not a string", "too long"],
)
def test_a_malformed_request_is_a_422(gateway, body):
    response = gateway.post(ROUTES_URL, body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_a_route_costs_one_query_whatever_the_number_of_endpoints(
    gateway, writer, django_assert_num_queries
):
    key = create_key(UserFactory())
    for _ in range(20):
        EndpointFactory(model=writer)
    # The key's decision with the model, its endpoints and their providers.
    with django_assert_num_queries(1):
        assert route(gateway, key.raw).status_code == 200


def test_a_route_runs_no_health_check(gateway, writer, monkeypatch):
    # CONN_HEALTH_CHECKS: the first query of each request runs a SELECT 1 first. The
    # route's one prepared query retries on a fresh connection instead
    # (gateway.prepared), so no check runs.
    key = create_key(UserFactory())
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    connection.health_check_done = False
    assert route(gateway, key.raw).status_code == 200
    assert checks == []


def test_a_listed_model_without_endpoints_is_a_409_not_a_404(gateway):
    LanguageModelFactory(author="acme", slug="bare")
    response = route(gateway, create_key(UserFactory()).raw, "acme/bare")
    assert response.status_code == 409
