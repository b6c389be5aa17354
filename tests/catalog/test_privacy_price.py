"""The price of privacy (catalog/privacy_price.py): for each provider data-policy choice,
what switching it would change, from the live catalog. For one model: which endpoint is
the cheapest the choices allow, and by how much it changes; across the catalog: how many
endpoints and models a switch opens or closes. Built on the catalog factories, checked
against the routing rule itself (catalog.selectors.endpoint_allowed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.models import Endpoint, LanguageModel
from catalog.privacy_price import (
    CHOICES,
    catalog_price_of_privacy,
    model_price_of_privacy,
    route_endpoint_of,
    switched,
)
from catalog.selectors import endpoint_allowed
from logging_prefs.selectors import default_provider_policy
from tests.factories.catalog import EndpointFactory, LanguageModelFactory, ProviderFactory
from tests.helpers.regions import abroad

pytestmark = pytest.mark.django_db


def effects_of(model: LanguageModel, policy: dict[str, bool]) -> dict:
    endpoints = [
        route_endpoint_of(endpoint)
        for endpoint in Endpoint.objects.filter(model=model).select_related("provider")
    ]
    return {effect.choice: effect for effect in model_price_of_privacy(endpoints, policy)}


@pytest.fixture
def writer():
    """acme/writer: a paid endpoint that may train at $0.80, one that keeps nothing at
    $1.00, and a free one that may publish prompts."""
    model = LanguageModelFactory(author="acme", slug="writer")
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Trainer"),
        input_price=Decimal("0.80"),
        output_price=Decimal("1.60"),
        trains_on_prompts=True,
    )
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Careful"),
        input_price=Decimal("1.00"),
        output_price=Decimal("2.00"),
    )
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Gratis"),
        input_price=Decimal(0),
        output_price=Decimal(0),
        publishes_prompts=True,
    )
    return model


def test_allowing_paid_training_states_the_saving_with_both_providers(writer):
    effect = effects_of(writer, default_provider_policy())["allow_training_paid"]
    assert (effect.to, effect.opened, effect.closed) == (True, 1, 0)
    assert effect.percent == 20
    assert effect.sentence == (
        "Allowing paid endpoints that may train on prompts would make this model 20 % "
        "cheaper (Trainer at $0.80 instead of Careful at $1.00 per million prompt tokens)."
    )


def test_allowing_publication_would_make_it_free(writer):
    effect = effects_of(writer, default_provider_policy())["allow_publication"]
    assert effect.percent == 100
    assert "100 % cheaper (Gratis at no charge instead of Careful at $1.00" in effect.sentence


def test_the_reverse_a_choice_that_closes_the_cheapest_endpoint_says_how_much_dearer(writer):
    policy = default_provider_policy() | {"allow_training_paid": True}
    effect = effects_of(writer, policy)["allow_training_paid"]
    assert (effect.to, effect.opened, effect.closed) == (False, 0, 1)
    assert effect.percent == -25
    assert effect.sentence == (
        "Refusing paid endpoints that may train on prompts would make this model 25 % "
        "dearer (Careful at $1.00 instead of Trainer at $0.80 per million prompt tokens)."
    )


def test_zero_data_retention_only_keeps_the_one_that_keeps_nothing(writer):
    policy = default_provider_policy() | {"allow_training_paid": True}
    effect = effects_of(writer, policy)["zdr_only"]
    assert (effect.to, effect.closed, effect.after.provider) == (True, 1, "Careful")


def test_a_choice_that_closes_every_endpoint_says_the_model_would_not_be_available():
    model = LanguageModelFactory(author="acme", slug="keeper")
    EndpointFactory(model=model, retains_prompts=True, retention_days=30)
    effect = effects_of(model, default_provider_policy())["allow_retention"]
    assert (effect.to, effect.closed, effect.after) == (False, 1, None)
    assert "would no longer be available to you" in effect.sentence
    # And the reverse: a model nothing allows now, made available by one switch.
    policy = default_provider_policy() | {"allow_retention": False}
    effect = effects_of(model, policy)["allow_retention"]
    assert effect.before is None
    assert effect.sentence.startswith(
        "Allowing endpoints that retain prompts would make this model available: Provider"
    )
    assert "$1.00 per million prompt tokens and $2.00 per million completion tokens" in (
        effect.sentence
    )


def test_a_choice_that_touches_no_endpoint_says_it_changes_nothing(writer):
    effect = effects_of(writer, default_provider_policy())["allow_training_free"]
    assert not effect.changes_anything
    assert effect.sentence == (
        "Allowing free endpoints that may train on prompts would change nothing for this model."
    )


def test_an_opened_endpoint_that_is_not_cheaper_is_said_so(settings):
    model = LanguageModelFactory(author="acme", slug="near")
    EndpointFactory(model=model, provider=ProviderFactory(name="Home"), input_price=1)
    EndpointFactory(
        model=model, provider=ProviderFactory(name="Away"), input_price=5, region=abroad()
    )
    effect = effects_of(model, default_provider_policy())["in_region_only"]
    assert (effect.to, effect.opened, effect.percent) == (False, 1, None)
    assert "would open 1 more endpoint, none cheaper than Home" in effect.sentence


def test_the_same_price_elsewhere_is_neither_cheaper_nor_dearer():
    model = LanguageModelFactory(author="acme", slug="twins")
    EndpointFactory(model=model, provider=ProviderFactory(name="A twin"), trains_on_prompts=True)
    EndpointFactory(model=model, provider=ProviderFactory(name="B twin"))
    policy = default_provider_policy() | {"allow_training_paid": True}
    effect = effects_of(model, policy)["allow_training_paid"]
    assert effect.percent is None
    assert "the cheapest price, $1.00 per million prompt tokens" in effect.sentence


def test_a_completion_price_difference_is_stated_as_such():
    model = LanguageModelFactory(author="acme", slug="chatty")
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Cheap out"),
        output_price=1,
        trains_on_prompts=True,
    )
    EndpointFactory(model=model, provider=ProviderFactory(name="Dear out"), output_price=4)
    effect = effects_of(model, default_provider_policy())["allow_training_paid"]
    assert effect.percent == 75
    assert "per million completion tokens" in effect.sentence


def test_every_model_effect_agrees_with_the_routing_rule(writer):
    """The counts are the routing rule's, choice by choice, from any starting point."""
    endpoints = [route_endpoint_of(e) for e in Endpoint.objects.select_related("provider")]
    for start in (default_provider_policy(), dict.fromkeys(CHOICES, True)):
        for effect in model_price_of_privacy(endpoints, start):
            after = switched(start, effect.choice)
            assert effect.opened == sum(
                endpoint_allowed(e, after) and not endpoint_allowed(e, start) for e in endpoints
            )
            assert effect.closed == sum(
                endpoint_allowed(e, start) and not endpoint_allowed(e, after) for e in endpoints
            )


# --- Across the catalog ----------------------------------------------------------------


def test_across_the_catalog_each_choice_counts_endpoints_and_models(writer):
    keeper = LanguageModelFactory(author="acme", slug="keeper")
    EndpointFactory(model=keeper, retains_prompts=True, retention_days=7)
    totals = {e.choice: e for e in catalog_price_of_privacy(default_provider_policy())}

    paid = totals["allow_training_paid"]
    assert (paid.to, paid.endpoints_opened, paid.endpoints_closed) == (True, 1, 0)
    assert (paid.models_opened, paid.models_cheaper) == (0, 1)
    assert paid.sentence == (
        "Allowing paid endpoints that may train on prompts would open 1 endpoint, and make "
        "1 model cheaper."
    )
    retention = totals["allow_retention"]
    assert (retention.to, retention.endpoints_closed, retention.models_closed) == (False, 1, 1)
    assert "(leaving 1 model with no endpoint you can use)" in retention.sentence
    zdr = totals["zdr_only"]
    assert (zdr.to, zdr.endpoints_closed, zdr.models_closed) == (True, 1, 1)
    assert totals["allow_training_free"].sentence.endswith(
        "would change nothing in the catalog today."
    )


def test_a_switch_that_makes_models_available_counts_them():
    for slug in ("one", "two"):
        EndpointFactory(model=LanguageModelFactory(slug=slug), region=abroad())
    totals = {e.choice: e for e in catalog_price_of_privacy(default_provider_policy())}
    region = totals["in_region_only"]
    assert (region.to, region.endpoints_opened, region.models_opened) == (False, 2, 2)
    assert "(making available 2 models that you cannot use now)" in region.sentence


def test_the_catalog_answer_is_one_query_whatever_its_size(django_assert_num_queries):
    def build(n: int) -> None:
        for _ in range(n):
            model = LanguageModelFactory()
            EndpointFactory(model=model, trains_on_prompts=True)
            EndpointFactory(model=model, region=abroad())

    build(3)
    with django_assert_num_queries(1):
        catalog_price_of_privacy(default_provider_policy())
    build(40)
    with django_assert_num_queries(1):
        totals = catalog_price_of_privacy(default_provider_policy())
    assert {e.choice: e.endpoints_opened for e in totals}["in_region_only"] == 43
