"""A key's own provider rules at the gateway: zero-data-retention only and no training
narrow its account's choices in POST /internal/v1/routes and in the decision's
`provider_policy`, for that key alone, and a model left with no endpoint is a 409 that
points at the key's rules as well as the account's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from logging_prefs.actions import do_set_api_key_provider_rules, do_set_logging_preferences
from tests.factories.catalog import EndpointFactory, LanguageModelFactory, ProviderFactory
from tests.helpers.gateway import OPENAPI_URL, create_key

pytestmark = pytest.mark.django_db

ROUTES_URL = "/internal/v1/routes"


@pytest.fixture
def trusting(key):
    """The key's account allows paid endpoints that train, and those that retain."""
    do_set_logging_preferences(
        user=key.user, acting_user=key.user, changes={"allow_training_paid": True}
    )
    return key


@pytest.fixture
def writer():
    """acme/writer: cheapest a paid endpoint that may train, then one that retains
    prompts, then a zero-data-retention one."""
    model = LanguageModelFactory(author="acme", slug="writer")
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Trainer"),
        input_price=Decimal("1"),
        trains_on_prompts=True,
    )
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Keeper"),
        input_price=Decimal("2"),
        retains_prompts=True,
        retention_days=30,
    )
    EndpointFactory(model=model, provider=ProviderFactory(name="Forgetful"), input_price=3)
    return model


def providers(gateway, raw_key: str, model: str = "acme/writer") -> list[str]:
    response = gateway.post(ROUTES_URL, {"api_key": raw_key, "model": model})
    assert response.status_code == 200, response.content
    return [endpoint["provider"] for endpoint in response.json()["endpoints"]]


def set_rules(key, **rules: bool) -> None:
    do_set_api_key_provider_rules(api_key=key.api_key, acting_user=key.user, changes=rules)


def test_the_account_alone_allows_all_three(gateway, trusting, writer):
    assert providers(gateway, trusting.raw) == ["Trainer", "Keeper", "Forgetful"]


def test_a_no_training_key_leaves_out_endpoints_that_may_train(gateway, trusting, writer):
    set_rules(trusting, no_training=True)
    assert providers(gateway, trusting.raw) == ["Keeper", "Forgetful"]
    policy = gateway.decide(trusting.raw).json()["provider_policy"]
    assert (policy["allow_training_paid"], policy["allow_training_free"]) == (False, False)
    # The account's other key, left as the account, still may use the trainer.
    other = create_key(trusting.user, name="Other app")
    assert providers(gateway, other.raw) == ["Trainer", "Keeper", "Forgetful"]
    assert gateway.decide(other.raw).json()["provider_policy"]["allow_training_paid"] is True


def test_a_zero_data_retention_key_uses_only_those_endpoints(gateway, trusting, writer):
    set_rules(trusting, zdr_only=True)
    assert providers(gateway, trusting.raw) == ["Forgetful"]
    assert gateway.decide(trusting.raw).json()["provider_policy"]["zdr_only"] is True
    set_rules(trusting, zdr_only=False)
    assert providers(gateway, trusting.raw) == ["Trainer", "Keeper", "Forgetful"]


def test_a_key_as_its_account_never_widens_it(gateway, key, writer):
    """With every rule off the key is exactly its account, whatever the account says."""
    set_rules(key, zdr_only=False, no_training=False, in_region_only=False)
    assert providers(gateway, key.raw) == ["Keeper", "Forgetful"]
    do_set_logging_preferences(user=key.user, acting_user=key.user, changes={"zdr_only": True})
    assert providers(gateway, key.raw) == ["Forgetful"]


def test_none_left_by_the_key_is_a_409_naming_the_keys_rules(gateway, trusting):
    model = LanguageModelFactory(author="acme", slug="hoarder")
    EndpointFactory(model=model, retains_prompts=True)
    assert providers(gateway, trusting.raw, "acme/hoarder")
    set_rules(trusting, zdr_only=True)
    response = gateway.post(ROUTES_URL, {"api_key": trusting.raw, "model": "acme/hoarder"})
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "allow none of acme/hoarder's endpoints" in detail
    assert "the key's rules on its page" in detail


def test_the_decision_with_the_keys_rules_is_still_one_query(
    gateway, trusting, django_assert_num_queries
):
    set_rules(trusting, zdr_only=True, no_training=True)
    with django_assert_num_queries(1):
        assert gateway.decide(trusting.raw).status_code == 200


def test_the_openapi_document_says_a_key_narrows_its_account(settings):
    auth = f"Bearer {settings.PORTAL_GATEWAY_TOKEN}"
    schemas = Client().get(OPENAPI_URL, HTTP_AUTHORIZATION=auth).json()["components"]["schemas"]
    policy = schemas["ProviderPolicy"]
    assert "never widen" in policy["description"]
    assert "key allows no training" in policy["properties"]["allow_training_paid"]["description"]
    assert "the key asks for it" in policy["properties"]["zdr_only"]["description"]
