"""The model page shows each provider's data policy (the privacy policy: "To view the
data policy for a specific model provider, please visit the model page"), and a
signed-in visitor sees which endpoints their own privacy choices allow."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.demo_data import DEMO_ENDPOINTS, load_demo_catalog
from catalog.models import Endpoint, LanguageModel
from catalog.selectors import endpoint_allowed
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.models import LoggingPreference
from tests.factories.accounts import UserFactory
from tests.factories.catalog import EndpointFactory, LanguageModelFactory, ProviderFactory
from tests.helpers.accounts import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def llama():
    model = LanguageModelFactory(author="meta-llama", slug="llama-3.1-8b-instruct:free")
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Careful", policy_url="https://careful.example/privacy"),
        input_price=Decimal("0.20"),
        output_price=Decimal("0.40"),
    )
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Trainer"),
        input_price=Decimal("0.10"),
        output_price=Decimal("0.075"),
        trains_on_prompts=True,
        retains_prompts=True,
        retention_days=30,
    )
    EndpointFactory(
        model=model,
        provider=ProviderFactory(name="Gratis"),
        input_price=Decimal(0),
        output_price=Decimal(0),
        publishes_prompts=True,
    )
    return model


def page(client, model: LanguageModel) -> str:
    response = client.get(f"/models/{model.model_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_model_page_shows_each_providers_data_policy_cheapest_first(client, llama):
    html = page(client, llama)
    assert "Providers and their data policies" in html
    assert html.index("Gratis") < html.index("Trainer") < html.index("Careful")
    assert "Zero data retention: keeps nothing once the request is answered." in html
    assert "May train on prompts." in html
    assert "Keeps prompts for 30 days." in html
    assert "May publish prompts." in html
    assert "$0.10" in html and "$0.075" in html and "Free" in html
    assert '<a href="https://careful.example/privacy" rel="noopener noreferrer">Careful</a>' in html
    # Without a signed-in visitor there are no choices to compare with.
    assert "Your choices" not in html
    assert f'href="/accounts/login/?next=/models/{llama.model_id}/"' in html.replace("%3A", ":")


def test_a_signed_in_visitor_sees_which_endpoints_their_choices_allow(client, llama):
    user = UserFactory()
    html = page(signed_in(client, user), llama)
    assert "Your choices" in html
    row = {
        name: html[html.index(f">{name}<") :].split("</tr>")[0]
        for name in ("Careful", "Trainer", "Gratis")
    }
    assert "Allowed" in row["Careful"]
    assert "Not used" in row["Trainer"]
    assert "You do not allow paid endpoints that may train on prompts." in row["Trainer"]
    assert "You do not allow endpoints that may publish prompts." in row["Gratis"]


def test_a_changed_choice_shows_on_the_next_page_load(client, llama):
    user = UserFactory()
    client = signed_in(client, user)
    trainer = html_row(page(client, llama), "Trainer")
    assert "Not used" in trainer
    do_set_logging_preferences(user=user, acting_user=user, changes={"allow_training_paid": True})
    assert "Allowed" in html_row(page(client, llama), "Trainer")
    do_set_logging_preferences(user=user, acting_user=user, changes={"zdr_only": True})
    trainer = html_row(page(client, llama), "Trainer")
    assert "You chose zero-data-retention endpoints only." in trainer


def html_row(html: str, name: str) -> str:
    return html[html.index(f">{name}<") :].split("</tr>")[0]


def test_a_model_in_the_catalog_has_a_page_before_any_request_is_categorised(client, llama):
    html = page(client, llama)
    assert "No category of requests to meta-llama/llama-3.1-8b-instruct:free reached" in html


def test_an_unknown_model_is_404_and_a_model_without_endpoints_says_so(client):
    assert client.get("/models/acme/nothing/").status_code == 404
    bare = LanguageModelFactory(author="acme", slug="bare")
    assert "No provider data is listed for acme/bare." in page(client, bare)


def test_the_index_lists_catalogued_models_with_their_number_of_providers(client, llama):
    LanguageModelFactory(author="acme", slug="solo")
    response = client.get("/models/")
    html = response.content.decode()
    assert f'<a href="/models/{llama.model_id}/">{llama.model_id}</a>' in html
    assert '<a href="/models/acme/solo/">acme/solo</a>' in html
    llama_row = html[html.index(f">{llama.model_id}<") :].split("</tr>")[0]
    assert '<td class="num">3</td>' in llama_row


def test_the_model_page_costs_the_same_queries_for_3_or_30_endpoints(client, llama):
    client = signed_in(client, UserFactory())
    page(client, llama)  # the session and the preference row exist from here on

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(client, llama)
        return len(captured)

    few = queries()
    for _ in range(27):
        EndpointFactory(model=llama)
    assert queries() == few


def test_the_demo_catalog_loads_twice_the_same_and_every_choice_matters():
    assert load_demo_catalog() == load_demo_catalog() == sum(map(len, DEMO_ENDPOINTS.values()))
    assert Endpoint.objects.count() == sum(map(len, DEMO_ENDPOINTS.values()))
    endpoints = list(Endpoint.objects.all())
    # The two choices that restrict when on ("only ...") are off; the others allow.
    restricting = {"zdr_only", "in_region_only"}
    everything = dict.fromkeys(LoggingPreference.PROVIDER_POLICY_FIELDS, True) | dict.fromkeys(
        restricting, False
    )
    for name in LoggingPreference.PROVIDER_POLICY_FIELDS:
        stricter = everything | {name: name in restricting}
        # Each choice, made stricter alone, rules out at least one demo endpoint.
        assert any(not endpoint_allowed(e, stricter) for e in endpoints), name


def test_the_model_page_shows_each_endpoints_region_beside_its_data_policy(client, settings):
    settings.PORTAL_DATA_REGION = "eu"
    model = LanguageModelFactory(author="acme", slug="globe")
    EndpointFactory(model=model, provider=ProviderFactory(name="Homely"), region="eu")
    EndpointFactory(
        model=model, provider=ProviderFactory(name="Overseas"), region="us", input_price=3
    )
    html = page(client, model)
    header = html[html.index("<thead>") : html.index("</thead>")]
    assert header.index("Data policy") < header.index("Region")
    assert "European Union" in html_row(html, "Homely")
    assert "outside" not in html_row(html, "Homely")
    assert "United States" in html_row(html, "Overseas")
    assert "(outside the European Union)" in html_row(html, "Overseas")
    assert 'href="/legal/data-location/"' in html
    # Signed in with the default choice, the endpoint abroad is not used, and says why.
    user = UserFactory()
    html = page(signed_in(client, user), model)
    assert "Allowed" in html_row(html, "Homely")
    assert "You keep your requests in the European Union." in html_row(html, "Overseas")
    do_set_logging_preferences(user=user, acting_user=user, changes={"in_region_only": False})
    assert "Allowed" in html_row(page(client, model), "Overseas")


# --- The price of privacy (catalog/privacy_price.py) ----------------------------------


def test_a_visitor_sees_the_price_of_privacy_from_a_new_accounts_choices(client, llama):
    html = page(client, llama)
    assert "The price of privacy" in html
    assert "These start from the choices a new account starts with" in html
    assert (
        "Allowing paid endpoints that may train on prompts would make this model 50 % cheaper "
        "(Trainer at $0.10 instead of Careful at $0.20 per million prompt tokens)."
    ) in html
    assert (
        "Allowing endpoints that may publish prompts would make this model 100 % cheaper "
        "(Gratis at no charge instead of Careful at $0.20 per million prompt tokens)."
    ) in html
    # And the reverse: a choice that would close the one endpoint a new account may use.
    assert "Using zero-data-retention endpoints only would change nothing" in html


def test_a_signed_in_visitor_sees_the_price_from_their_own_choices(client, llama):
    user = UserFactory()
    do_set_logging_preferences(user=user, acting_user=user, changes={"allow_training_paid": True})
    html = page(signed_in(client, user), llama)
    assert "These start from the choices a new account starts with" not in html
    assert (
        "Refusing paid endpoints that may train on prompts would make this model 100 % dearer "
        "(Careful at $0.20 instead of Trainer at $0.10 per million prompt tokens)."
    ) in html
    do_set_logging_preferences(
        user=user,
        acting_user=user,
        changes={"allow_training_paid": False, "allow_retention": False},
    )
    assert "Allowing paid endpoints that may train on prompts would change nothing" in page(
        client, llama
    )


def test_the_price_of_privacy_costs_a_visitor_no_query_per_endpoint(client, llama):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(client, llama)
        return len(captured)

    few = queries()
    for _ in range(27):
        EndpointFactory(model=llama, trains_on_prompts=True)
    assert queries() == few
