"""Staff keep the catalog in the Django admin; a bad entry gets a form error, not a 500,
and nothing is saved."""

from __future__ import annotations

import pytest

from catalog.models import Endpoint
from tests.factories.accounts import UserFactory
from tests.factories.catalog import LanguageModelFactory, ProviderFactory
from tests.mfa import staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    return staff_client(UserFactory(is_staff=True, is_superuser=True))


def endpoint_form(model, provider, **overrides) -> dict:
    return {
        "model": model.pk,
        "provider": provider.pk,
        "input_price": "1.50",
        "output_price": "3",
        "retention_days": "",
        "region": "eu",
        **overrides,
    }


def test_staff_add_an_endpoint_and_the_model_page_shows_it(admin_client):
    model = LanguageModelFactory(author="acme", slug="one")
    provider = ProviderFactory(name="Keeper")
    for path in (
        "/admin/catalog/",
        "/admin/catalog/endpoint/",
        "/admin/catalog/endpoint/add/",
        f"/admin/catalog/languagemodel/{model.pk}/change/",
        "/admin/catalog/provider/add/",
    ):
        assert admin_client.get(path).status_code == 200, path
    form = endpoint_form(model, provider, retains_prompts="on", retention_days="14")
    response = admin_client.post("/admin/catalog/endpoint/add/", form)
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    assert endpoint.retention_days == 14
    assert endpoint.region == "eu"
    assert "Keeps prompts for 14 days." in admin_client.get("/models/acme/one/").content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_price": "-1"}, "Ensure this value is greater than or equal to 0"),
        ({"output_price": "lots"}, "Enter a number."),
        ({"retention_days": "30"}, "Only an endpoint that retains prompts has a retention period."),
        ({"retention_days": "-5", "retains_prompts": "on"}, "greater than or equal to 0"),
        ({"region": ""}, "This field is required."),
        ({"region": "mars"}, "Select a valid choice. mars is not one of the available choices."),
        ({"region": "eu\x00"}, "Select a valid choice."),
        ({"region": "x" * 5000}, "Select a valid choice."),
    ],
    ids=[
        "negative price",
        "not a number",
        "retention without retaining",
        "negative days",
        "no region",
        "unknown region",
        "NUL in region",
        "over-long region",
    ],
)
def test_a_bad_endpoint_gets_a_form_error_and_nothing_is_saved(admin_client, overrides, message):
    form = endpoint_form(LanguageModelFactory(), ProviderFactory(), **overrides)
    response = admin_client.post("/admin/catalog/endpoint/add/", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Endpoint.objects.exists()


def test_a_second_endpoint_for_the_same_model_and_provider_is_refused(admin_client):
    model, provider = LanguageModelFactory(), ProviderFactory()
    assert (
        admin_client.post(
            "/admin/catalog/endpoint/add/", endpoint_form(model, provider)
        ).status_code
        == 302
    )
    response = admin_client.post("/admin/catalog/endpoint/add/", endpoint_form(model, provider))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Endpoint.objects.count() == 1


def test_staff_move_an_endpoint_to_another_region_and_filter_by_region(admin_client):
    model = LanguageModelFactory(author="acme", slug="moved")
    provider = ProviderFactory(name="Mover")
    admin_client.post("/admin/catalog/endpoint/add/", endpoint_form(model, provider))
    endpoint = Endpoint.objects.get()
    form = endpoint_form(model, provider, region="us")
    response = admin_client.post(f"/admin/catalog/endpoint/{endpoint.pk}/change/", form)
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.region == "us"
    listing = admin_client.get("/admin/catalog/endpoint/", {"region__exact": "us"})
    assert listing.status_code == 200
    assert "Mover" in listing.content.decode()
    assert (
        "Mover"
        not in admin_client.get(
            "/admin/catalog/endpoint/", {"region__exact": "eu"}
        ).content.decode()
    )
    # A forged filter value is not a 500.
    assert admin_client.get("/admin/catalog/endpoint/", {"region__exact": "mars"}).status_code in (
        200,
        302,
    )


def test_a_model_slug_with_a_slash_is_refused(admin_client):
    response = admin_client.post(
        "/admin/catalog/languagemodel/add/",
        {
            "author": "acme",
            "slug": "a/b",
            "name": "A",
            "description": "",
            "endpoints-TOTAL_FORMS": "0",
            "endpoints-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "cannot contain a slash" in response.content.decode()
