"""Which endpoints an account's provider data-policy choices allow (the rule the model
pages show, in the words of the privacy page)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Endpoint
from catalog.selectors import endpoint_allowed, endpoint_refusals, format_price
from logging_prefs.models import LoggingPreference
from tests.factories.catalog import EndpointFactory, LanguageModelFactory, ProviderFactory

# The defaults of a new account: retention allowed, nothing else.
DEFAULTS = {
    name: LoggingPreference._meta.get_field(name).default
    for name in LoggingPreference.PROVIDER_POLICY_FIELDS
}
EVERYTHING = dict.fromkeys(LoggingPreference.PROVIDER_POLICY_FIELDS, True) | {"zdr_only": False}


def endpoint(**policy) -> Endpoint:
    # Unsaved: the rule reads the fields only.
    return Endpoint(input_price=Decimal("1"), output_price=Decimal("2"), **policy)


def free_endpoint(**policy) -> Endpoint:
    return Endpoint(input_price=Decimal(0), output_price=Decimal(0), **policy)


def test_a_new_accounts_defaults_allow_endpoints_that_only_retain_prompts():
    assert DEFAULTS == {
        "allow_training_paid": False,
        "allow_training_free": False,
        "allow_retention": True,
        "allow_publication": False,
        "zdr_only": False,
    }
    assert endpoint_allowed(endpoint(), DEFAULTS)
    assert endpoint_allowed(endpoint(retains_prompts=True, retention_days=30), DEFAULTS)


def test_a_paid_endpoint_that_may_train_needs_paid_training_allowed():
    paid = endpoint(trains_on_prompts=True)
    assert endpoint_refusals(paid, DEFAULTS) == [
        "you do not allow paid endpoints that may train on prompts"
    ]
    assert endpoint_allowed(paid, DEFAULTS | {"allow_training_paid": True})
    # Allowing free endpoints to train says nothing about paid ones.
    assert not endpoint_allowed(paid, DEFAULTS | {"allow_training_free": True})


def test_a_free_endpoint_that_may_train_needs_free_training_allowed():
    free = free_endpoint(trains_on_prompts=True)
    assert endpoint_refusals(free, DEFAULTS) == [
        "you do not allow free endpoints that may train on prompts"
    ]
    assert endpoint_allowed(free, DEFAULTS | {"allow_training_free": True})
    assert not endpoint_allowed(free, DEFAULTS | {"allow_training_paid": True})


def test_an_endpoint_that_retains_prompts_needs_retention_allowed():
    retaining = endpoint(retains_prompts=True)
    assert endpoint_refusals(retaining, DEFAULTS | {"allow_retention": False}) == [
        "you do not allow endpoints that retain prompts"
    ]


def test_an_endpoint_that_may_publish_needs_publication_allowed():
    publishing = free_endpoint(publishes_prompts=True)
    assert not endpoint_allowed(publishing, DEFAULTS)
    assert endpoint_allowed(publishing, DEFAULTS | {"allow_publication": True})


def test_zero_data_retention_only_rules_out_every_endpoint_that_keeps_anything():
    zdr_only = EVERYTHING | {"zdr_only": True}
    assert endpoint_allowed(endpoint(), zdr_only)
    for policy in (
        {"trains_on_prompts": True},
        {"retains_prompts": True},
        {"publishes_prompts": True},
    ):
        kept = endpoint(**policy)
        assert not kept.zero_data_retention
        assert "you chose zero-data-retention endpoints only" in endpoint_refusals(kept, zdr_only)


def test_every_reason_is_given_at_once():
    worst = free_endpoint(trains_on_prompts=True, retains_prompts=True, publishes_prompts=True)
    assert (
        len(endpoint_refusals(worst, DEFAULTS | {"allow_retention": False, "zdr_only": True})) == 4
    )
    assert endpoint_allowed(worst, EVERYTHING)


@pytest.mark.parametrize(
    ("price", "text"),
    [
        ("2.500000", "2.50"),
        ("10", "10.00"),
        ("0.075", "0.075"),
        ("0", "0.00"),
        ("0.000001", "0.000001"),
    ],
)
def test_prices_read_as_people_write_them(price, text):
    assert format_price(Decimal(price)) == text


@pytest.mark.django_db
def test_the_database_refuses_negative_prices_and_a_retention_period_without_retention():
    model = LanguageModelFactory()
    provider = ProviderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        EndpointFactory(model=model, provider=provider, input_price=Decimal("-1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        EndpointFactory(model=model, provider=provider, retention_days=30)
    assert not Endpoint.objects.exists()


@pytest.mark.django_db
def test_the_admin_form_explains_a_bad_retention_period_or_slug():
    bad = EndpointFactory.build(
        model=LanguageModelFactory(), provider=ProviderFactory(), retention_days=30
    )
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert "Only an endpoint that retains prompts" in str(error.value)
    slashed = LanguageModelFactory.build(slug="a/b")
    with pytest.raises(ValidationError) as error:
        slashed.full_clean()
    assert "cannot contain a slash" in str(error.value)
