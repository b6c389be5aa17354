"""The region rule at the gateway: "Keep my requests in <region>" (on by default, for the
policy's "We do not transfer your personal data internationally") leaves other regions'
endpoints out of POST /internal/v1/routes, a model left with none is a 409 that says
why, the decision carries the choice in `provider_policy`, and every routed endpoint
says where it runs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from logging_prefs.actions import do_set_api_key_in_region, do_set_logging_preferences
from tests.factories.catalog import EndpointFactory, LanguageModelFactory, ProviderFactory
from tests.helpers.gateway import OPENAPI_URL, create_key
from tests.helpers.regions import abroad, home

pytestmark = pytest.mark.django_db

ROUTES_URL = "/internal/v1/routes"


@pytest.fixture
def atlas():
    """acme/atlas: a cheap endpoint abroad and a dearer one at home."""
    model = LanguageModelFactory(author="acme", slug="atlas")
    EndpointFactory(
        model=model, provider=ProviderFactory(name="Faraway"), region=abroad(), input_price=1
    )
    EndpointFactory(model=model, provider=ProviderFactory(name="Nearby"), region=home())
    return model


@pytest.fixture
def overseas():
    """acme/overseas: served only abroad, by an endpoint every other choice allows."""
    model = LanguageModelFactory(author="acme", slug="overseas")
    EndpointFactory(model=model, provider=ProviderFactory(name="Faraway"), region=abroad())
    return model


def route(gateway, raw_key: str, model: str):
    return gateway.post(ROUTES_URL, {"api_key": raw_key, "model": model})


def turn_off_region(key) -> None:
    do_set_logging_preferences(
        user=key.user, acting_user=key.user, changes={"in_region_only": False}
    )


def test_in_region_on_leaves_other_regions_endpoints_out(gateway, key, atlas):
    response = route(gateway, key.raw, "acme/atlas")
    assert response.status_code == 200
    assert [(e["provider"], e["region"]) for e in response.json()["endpoints"]] == [
        ("Nearby", home())
    ]


def test_in_region_off_lists_every_region_cheapest_first(gateway, key, atlas):
    turn_off_region(key)
    response = route(gateway, key.raw, "acme/atlas")
    assert response.status_code == 200
    assert [(e["provider"], e["region"]) for e in response.json()["endpoints"]] == [
        ("Faraway", abroad()),
        ("Nearby", home()),
    ]


def test_none_left_in_the_region_is_a_409_that_names_the_region(gateway, key, overseas, settings):
    settings.PORTAL_DATA_REGION = "eu"
    overseas.endpoints.update(region="us")
    response = route(gateway, key.raw, "acme/overseas")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "keeps its requests in the European Union" in detail
    assert "acme/overseas" in detail
    assert "Keep my requests in" in detail
    turn_off_region(key)
    assert route(gateway, key.raw, "acme/overseas").status_code == 200


def test_when_other_choices_rule_out_the_rest_the_409_says_so_not_the_region(
    gateway, key, overseas
):
    # The endpoint abroad trains on prompts: with the region choice off it would still be
    # refused, so the region is not the reason.
    overseas.endpoints.update(trains_on_prompts=True)
    detail = route(gateway, key.raw, "acme/overseas").json()["detail"]
    assert "provider data-policy choices allow none" in detail
    assert "keeps its requests" not in detail


def test_the_region_follows_the_setting(gateway, key, atlas, settings):
    settings.PORTAL_DATA_REGION = abroad()
    response = route(gateway, key.raw, "acme/atlas")
    assert [e["provider"] for e in response.json()["endpoints"]] == ["Faraway"]


def test_the_decision_carries_the_choice_and_a_change_is_in_force_at_once(gateway, key):
    assert gateway.decide(key.raw).json()["provider_policy"]["in_region_only"] is True
    turn_off_region(key)
    assert gateway.decide(key.raw).json()["provider_policy"]["in_region_only"] is False


def test_a_decision_with_the_region_choice_is_still_one_query(
    gateway, key, django_assert_num_queries
):
    turn_off_region(key)
    with django_assert_num_queries(1):
        assert gateway.decide(key.raw).status_code == 200


def test_the_openapi_document_describes_the_region_and_the_choice(settings):
    auth = f"Bearer {settings.PORTAL_GATEWAY_TOKEN}"
    schemas = Client().get(OPENAPI_URL, HTTP_AUTHORIZATION=auth).json()["components"]["schemas"]
    assert "in_region_only" in schemas["ProviderPolicy"]["required"]
    route_out = schemas["RouteOut"]
    assert "region" in route_out["required"]
    assert home() in route_out["properties"]["region"]["enum"]
    assert abroad() in route_out["properties"]["region"]["enum"]


def test_a_route_endpoint_states_its_region_with_its_price(gateway, key):
    model = LanguageModelFactory(author="acme", slug="solo")
    EndpointFactory(model=model, input_price=Decimal("0.5"), region=home())
    (endpoint,) = route(gateway, key.raw, "acme/solo").json()["endpoints"]
    assert endpoint["region"] == home()
    assert endpoint["input_price"] == "0.50"


# --- A key's own region rule: stricter than its account, never wider -----------------


def keep_key_in_region(key, value: bool = True) -> None:
    do_set_api_key_in_region(api_key=key.api_key, acting_user=key.user, in_region_only=value)


def test_a_key_in_region_leaves_other_regions_out_while_its_account_allows_them(
    gateway, key, atlas
):
    turn_off_region(key)
    keep_key_in_region(key)
    response = route(gateway, key.raw, "acme/atlas")
    assert response.status_code == 200
    assert [(e["provider"], e["region"]) for e in response.json()["endpoints"]] == [
        ("Nearby", home())
    ]
    # The account's other key, left as the account, still goes abroad.
    other = create_key(key.user, name="Other app")
    assert [e["provider"] for e in route(gateway, other.raw, "acme/atlas").json()["endpoints"]] == [
        "Faraway",
        "Nearby",
    ]


def test_a_key_in_region_with_none_left_there_is_the_region_409(gateway, key, overseas, settings):
    settings.PORTAL_DATA_REGION = "eu"
    overseas.endpoints.update(region="us")
    turn_off_region(key)
    keep_key_in_region(key)
    response = route(gateway, key.raw, "acme/overseas")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "keeps its requests in the European Union" in detail
    assert "the key's own setting" in detail
    keep_key_in_region(key, False)
    assert route(gateway, key.raw, "acme/overseas").status_code == 200


def test_a_key_as_the_account_cannot_widen_an_in_region_account(gateway, key, atlas, overseas):
    keep_key_in_region(key, False)
    assert key.api_key.in_region_only is False
    assert [e["provider"] for e in route(gateway, key.raw, "acme/atlas").json()["endpoints"]] == [
        "Nearby"
    ]
    assert route(gateway, key.raw, "acme/overseas").status_code == 409
    assert gateway.decide(key.raw).json()["provider_policy"]["in_region_only"] is True


@pytest.mark.parametrize(
    ("account_rule", "key_rule", "effective"),
    [(True, False, True), (True, True, True), (False, True, True), (False, False, False)],
)
def test_the_decision_carries_the_effective_rule_in_one_query(
    gateway, key, account_rule, key_rule, effective, django_assert_num_queries
):
    do_set_logging_preferences(
        user=key.user, acting_user=key.user, changes={"in_region_only": account_rule}
    )
    keep_key_in_region(key, key_rule)
    with django_assert_num_queries(1):
        response = gateway.decide(key.raw)
    assert response.status_code == 200
    assert response.json()["provider_policy"]["in_region_only"] is effective
